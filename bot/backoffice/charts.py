"""Tiny inline-SVG charts for the dashboard (no JavaScript, no external library)."""
from __future__ import annotations

from html import escape

PALETTE = ("#1f6f5c", "#d08c2c", "#3b6db3", "#b5473a", "#7a5ea8", "#4c9a2a", "#8a8a8a")


def bar_chart(labels: list[str], values: list[float], height: int = 120, unit: str = "") -> str:
    """Vertical bars, one per label, scaled to the largest value."""
    width = max(240, 14 * len(values))
    top = max(values) if values and max(values) > 0 else 1
    slot = width / max(1, len(values))
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height + 16}" role="img" preserveAspectRatio="none">']
    for i, (label, value) in enumerate(zip(labels, values)):
        h = (value / top) * (height - 4)
        x = i * slot + 1
        parts.append(f'<rect x="{x:.1f}" y="{height - h:.1f}" width="{max(1.0, slot - 2):.1f}" height="{h:.1f}" '
                     f'fill="{PALETTE[0]}"><title>{escape(label)}: {value:g}{escape(unit)}</title></rect>')
    if labels:
        parts.append(f'<text x="0" y="{height + 13}" font-size="10">{escape(labels[0])}</text>')
        parts.append(f'<text x="{width}" y="{height + 13}" font-size="10" text-anchor="end">{escape(labels[-1])}</text>')
    parts.append(f'<text x="{width}" y="10" font-size="10" text-anchor="end">max {top:g}{escape(unit)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def stacked_bars(rows: list[str], series: list[str], values: dict[tuple[str, str], int]) -> str:
    """Horizontal stacked bars: one row per label, one colour per series (e.g. service × status)."""
    bar_h, gap, label_w, width = 18, 6, 110, 520
    totals = {r: sum(values.get((r, s), 0) for s in series) for r in rows}
    top = max(totals.values()) if totals and max(totals.values()) > 0 else 1
    height = len(rows) * (bar_h + gap) + 24
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
                         f'fill="{PALETTE[j % len(PALETTE)]}"><title>{escape(row)} / {escape(s)}: {n}</title></rect>')
            x += w
        parts.append(f'<text x="{x + 4:.1f}" y="{y + 13}" font-size="11">{totals[row]}</text>')
    y = len(rows) * (bar_h + gap) + 12
    x = 0.0
    for j, s in enumerate(series):
        parts.append(f'<rect x="{x}" y="{y - 9}" width="10" height="10" fill="{PALETTE[j % len(PALETTE)]}"/>'
                     f'<text x="{x + 13}" y="{y}" font-size="10">{escape(s)}</text>')
        x += 14 + 7 * len(s) + 10
    parts.append("</svg>")
    return "".join(parts)
