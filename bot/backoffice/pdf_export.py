"""The case file as one PDF: a summary (answers, registry record, checklist) followed by every document,
images scaled onto A4 pages and PDF documents appended page by page."""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from PIL import Image, ImageOps
from pypdf import PdfReader, PdfWriter
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.pdfgen import canvas
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

MARGIN = 15 * mm


@dataclass
class ExportDocument:
    title: str
    content_type: str
    data: bytes | None  # None when the stored file is missing


@dataclass
class CaseSummary:
    title: str
    sections: list[tuple[str, list[tuple[str, str]]]] = field(default_factory=list)
    generated_at: datetime | None = None
    footer: str = ""


def _esc(text: Any) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def summary_pdf(summary: CaseSummary) -> bytes:
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=MARGIN,
                            bottomMargin=MARGIN, title=summary.title)
    styles = getSampleStyleSheet()
    cell = styles["BodyText"]
    story: list[Any] = [Paragraph(_esc(summary.title), styles["Title"])]
    if summary.footer:
        story.append(Paragraph(_esc(summary.footer), styles["Italic"]))
    for heading, rows in summary.sections:
        story.append(Spacer(1, 4 * mm))
        story.append(Paragraph(_esc(heading), styles["Heading2"]))
        if not rows:
            story.append(Paragraph("-", cell))
            continue
        table = Table([[Paragraph(_esc(k), cell), Paragraph(_esc(v), cell)] for k, v in rows],
                      colWidths=[60 * mm, A4[0] - 2 * MARGIN - 60 * mm])
        table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
                                   ("BACKGROUND", (0, 0), (0, -1), colors.whitesmoke),
                                   ("VALIGN", (0, 0), (-1, -1), "TOP")]))
        story.append(table)
    doc.build(story)
    return buffer.getvalue()


def _caption_page(title: str, note: str = "") -> bytes:
    buffer = io.BytesIO()
    c = canvas.Canvas(buffer, pagesize=A4)
    c.setFont("Helvetica-Bold", 12)
    c.drawString(MARGIN, A4[1] - MARGIN, title[:110])
    if note:
        c.setFont("Helvetica", 10)
        c.drawString(MARGIN, A4[1] - MARGIN - 8 * mm, note[:120])
    c.showPage()
    c.save()
    return buffer.getvalue()


def image_page(title: str, data: bytes) -> bytes:
    """One A4 page with a caption and the image scaled to fit (EXIF rotation applied)."""
    with Image.open(io.BytesIO(data)) as img:
        img = ImageOps.exif_transpose(img)
        if img.mode not in ("RGB", "L"):
            img = img.convert("RGB")
        png = io.BytesIO()
        img.save(png, format="JPEG", quality=85)
        width, height = img.size
    buffer = io.BytesIO()
    c = canvas.Canvas(buffer, pagesize=A4)
    c.setFont("Helvetica-Bold", 11)
    c.drawString(MARGIN, A4[1] - MARGIN, title[:110])
    box_w, box_h = A4[0] - 2 * MARGIN, A4[1] - 2 * MARGIN - 10 * mm
    scale = min(box_w / width, box_h / height)
    w, h = width * scale, height * scale
    c.drawImage(ImageReader(io.BytesIO(png.getvalue())), MARGIN + (box_w - w) / 2, MARGIN + (box_h - h), w, h)
    c.showPage()
    c.save()
    return buffer.getvalue()


def build_case_pdf(summary: CaseSummary, documents: list[ExportDocument], missing_note: str,
                   unreadable_note: str) -> bytes:
    """Summary pages, then each document: a captioned image page or the PDF's own pages."""
    writer = PdfWriter()
    writer.append(PdfReader(io.BytesIO(summary_pdf(summary))))
    for document in documents:
        parts: list[bytes]
        if document.data is None:
            parts = [_caption_page(document.title, missing_note)]
        elif document.content_type == "application/pdf":
            try:
                reader = PdfReader(io.BytesIO(document.data))
                if reader.is_encrypted:
                    raise ValueError("encrypted")
                parts = [_caption_page(document.title)]
                writer.append(PdfReader(io.BytesIO(parts[0])))
                writer.append(reader)
                continue
            except Exception:  # damaged PDFs raise assorted errors
                parts = [_caption_page(document.title, unreadable_note)]
        elif document.content_type.startswith("image/"):
            try:
                parts = [image_page(document.title, document.data)]
            except Exception:  # unreadable or unsupported image
                parts = [_caption_page(document.title, unreadable_note)]
        else:
            parts = [_caption_page(document.title, unreadable_note)]
        for part in parts:
            writer.append(PdfReader(io.BytesIO(part)))
    writer.add_metadata({"/Title": summary.title})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
