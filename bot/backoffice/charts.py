"""Tiny inline-SVG charts for the dashboard (no JavaScript, no external library)."""
from __future__ import annotations

from html import escape

PALETTE = ("#1f6f5c", "#d08c2c", "#3b6db3", "#b5473a", "#7a5ea8", "#4c9a2a", "#8a8a8a")


def bar_chart(labels: list[str], values: list[float], height: int = 120, unit: str = "") -> str:
    """Vertical bars, one per label, scaled to the largest value."""
    width = 360
    top = max(values) if values and max(values) > 0 else 1
    slot = width / max(1, len(values))
    head = 14
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height + head + 16}" role="img">']
    parts.append(f'<text x="0" y="10" font-size="10">maks. {top:g}{escape(unit)}</text>')
    parts.append(f'<line x1="0" y1="{head + height}" x2="{width}" y2="{head + height}" stroke="#bbb"/>')
    for i, (label, value) in enumerate(zip(labels, values)):
        h = (value / top) * (height - 2)
        x = i * slot + 0.5
        parts.append(f'<rect x="{x:.1f}" y="{head + height - h:.1f}" width="{max(1.0, slot - 1):.1f}" '
                     f'height="{h:.1f}" fill="{PALETTE[0]}"><title>{escape(label)}: {value:g}{escape(unit)}</title></rect>')
    if labels:
        y = head + height + 13
        parts.append(f'<text x="0" y="{y}" font-size="10">{escape(labels[0])}</text>')
        parts.append(f'<text x="{width}" y="{y}" font-size="10" text-anchor="end">{escape(labels[-1])}</text>')
    parts.append("</svg>")
    return "".join(parts)


def stacked_bars(rows: list[str], series: list[str], values: dict[tuple[str, str], int],
                 series_labels: dict[str, str] | None = None) -> str:
    """Horizontal stacked bars: one row per label, one colour per series (e.g. service × status)."""
    names = series_labels or {}
    bar_h, gap, label_w, width = 18, 6, 90, 400
    totals = {r: sum(values.get((r, s), 0) for s in series) for r in rows}
    top = max(totals.values()) if totals and max(totals.values()) > 0 else 1
    legend_rows = 1 + sum(8 * len(names.get(s, s)) + 24 for s in series) // width
    height = len(rows) * (bar_h + gap) + 16 * legend_rows + 8
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img">']
    for i, row in enumerate(rows):
        y = i * (bar_h + gap)
        parts.append(f'<text x="0" y="{y + 13}" font-size="11">{escape(row)}</text>')
        x = float(label_w)
        for j, s in enumerate(series):
            n = values.get((row, s), 0)
            if not n:
                continue
            w = n / top * (width - label_w - 30)
            parts.append(f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{bar_h}" '
                         f'fill="{PALETTE[j % len(PALETTE)]}"><title>{escape(row)} / {escape(names.get(s, s))}: {n}'
                         f'</title></rect>')
            x += w
        parts.append(f'<text x="{x + 4:.1f}" y="{y + 13}" font-size="11">{totals[row]}</text>')
    y = len(rows) * (bar_h + gap) + 12
    x = 0.0
    for j, s in enumerate(series):
        label = names.get(s, s)
        step = 8 * len(label) + 24
        if x + step > width and x > 0:
            x, y = 0.0, y + 16
        parts.append(f'<rect x="{x}" y="{y - 9}" width="10" height="10" fill="{PALETTE[j % len(PALETTE)]}"/>'
                     f'<text x="{x + 13}" y="{y}" font-size="11">{escape(label)}</text>')
        x += step
    parts.append("</svg>")
    return "".join(parts)
