"""`hajibot report skm`: the IKM of a period as CSV (one row per service) and as a PDF with two charts
(IKM per service, NRR per element), for the office's periodic SKM report."""
from __future__ import annotations

import csv
import io
from datetime import datetime
from pathlib import Path

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Image, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from bot.backoffice.texts import staff_text
from bot.backoffice.skm.data import ALL_SERVICES, SkmReport, service_label
from bot.backoffice.skm.ikm import IkmResult


def _fmt(value: float | None, digits: int = 2) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def write_csv(report: SkmReport, path: Path) -> None:
    """One row per service (and one for all services): respondents, NRR per element, index, value, grade."""
    header = [staff_text(f"skm_col_{c}") for c in ("period", "service", "offered", "respondents")]
    header += [f"nrr_{key}" for key, _ in report.elements]
    header += [staff_text(f"skm_col_{c}") for c in ("index", "value", "grade", "performance")]
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for service, result in _ordered(report):
            writer.writerow([report.period.label, service, report.offered.get(service, 0), result.respondents,
                             *[_fmt(result.nrr.get(key), 3) for key, _ in report.elements],
                             _fmt(result.index, 3), _fmt(result.value), result.grade or "",
                             result.performance or ""])


def _ordered(report: SkmReport) -> list[tuple[str, IkmResult]]:
    services = sorted(s for s in report.by_service if s != ALL_SERVICES)
    if ALL_SERVICES in report.by_service:
        services.append(ALL_SERVICES)
    return [(s, report.by_service[s]) for s in services]


def _chart_png(labels: list[str], values: list[float], title: str, xmax: float, bands: bool) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 0.45 * max(3, len(labels)) + 1), dpi=120)
    try:
        if bands:  # the quality categories behind the bars
            for low, high, shade in ((25, 65, "#f3d6d2"), (65, 76.61, "#f6e7c8"), (76.61, 88.31, "#dcebd5"),
                                     (88.31, 100, "#c5e1c0")):
                ax.axvspan(low, high, color=shade, zorder=0)
        ax.barh(labels, values, color="#1f6f5c", zorder=2)
        for y, v in enumerate(values):
            ax.text(v, y, f" {v:.2f}", va="center", fontsize=8, zorder=3)
        ax.set_xlim(25 if bands else 1, xmax)
        ax.invert_yaxis()
        ax.set_title(title, fontsize=10)
        ax.tick_params(labelsize=8)
        fig.tight_layout()
        out = io.BytesIO()
        fig.savefig(out, format="png")
        return out.getvalue()
    finally:
        plt.close(fig)


def write_pdf(report: SkmReport, path: Path, office: str, basis: str, weight_label: str, now: datetime) -> None:
    """A4 report: title, legal basis and formula, the table per service, the two charts, NRR per element."""
    styles = getSampleStyleSheet()
    period = report.period.label
    story: list = [Paragraph(staff_text("skm_report_title", office=office, period=period), styles["Title"]),
                   Paragraph(staff_text("skm_basis", basis=basis, weight=weight_label), styles["Normal"]),
                   Paragraph(staff_text("skm_generated", when=now.strftime("%d-%m-%Y %H:%M")), styles["Normal"]),
                   Spacer(1, 5 * mm)]
    rows = _ordered(report)
    if not rows:
        story.append(Paragraph(staff_text("skm_no_data"), styles["Normal"]))
    else:
        table = [[staff_text(f"skm_th_{c}") for c in ("service", "respondents", "value", "grade", "performance")]]
        table += [[service_label(s), str(r.respondents), _fmt(r.value), r.grade or "-", r.performance or "-"]
                  for s, r in rows]
        story += [_table(table), Spacer(1, 5 * mm)]
        png = _chart_png([service_label(s) for s, _ in rows], [r.value or 0 for _, r in rows],
                         staff_text("skm_chart_services", period=period), 100, bands=True)
        story += [Image(io.BytesIO(png), width=170 * mm, height=170 * mm * _ratio(png)), Spacer(1, 4 * mm)]
        overall = report.by_service.get(ALL_SERVICES)
        if overall is not None:
            names = [name for key, name in report.elements if key in overall.nrr]
            values = [overall.nrr[key] for key, _ in report.elements if key in overall.nrr]
            png = _chart_png(names, values, staff_text("skm_chart_elements", period=period), 4, bands=False)
            story += [Image(io.BytesIO(png), width=170 * mm, height=170 * mm * _ratio(png)), Spacer(1, 4 * mm)]
            table = [[staff_text("skm_th_element"), staff_text("skm_th_nrr")]]
            table += [[name, _fmt(overall.nrr.get(key), 3)] for key, name in report.elements]
            story.append(_table(table))
    SimpleDocTemplate(str(path), pagesize=A4, leftMargin=15 * mm, rightMargin=15 * mm,
                      topMargin=15 * mm, bottomMargin=15 * mm, title=f"SKM {period}").build(story)


def _ratio(png: bytes) -> float:
    from PIL import Image as PilImage

    with PilImage.open(io.BytesIO(png)) as img:
        return img.height / img.width


def _table(rows: list[list[str]]) -> Table:
    table = Table(rows, hAlign="LEFT")
    table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
                               ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e6efe9")),
                               ("FONTSIZE", (0, 0), (-1, -1), 9)]))
    return table
