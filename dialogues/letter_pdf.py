"""A filled letter as an A4 PDF with the office's letterhead (reportlab). Module-level and plain-data in,
bytes out, so it runs in the worker pool (dialogues/offload.py)."""
from __future__ import annotations

import functools
import importlib.util
import io
from pathlib import Path
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_JUSTIFY, TA_LEFT, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Flowable, HRFlowable, Image, KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table
from reportlab.platypus import TableStyle

from dialogues.letter_templates import FilledBlock, FilledLetter, Letterhead

MARGIN = 20 * mm
SIZE = 10.5  # body text, points
WIDTH = A4[0] - 2 * MARGIN
ALIGN = {"left": TA_LEFT, "right": TA_RIGHT, "center": TA_CENTER, "justify": TA_JUSTIFY}
SIGNATURE_WIDTH = 70 * mm


@functools.lru_cache(maxsize=1)
def fonts() -> tuple[str, str]:
    """(regular, bold) font names. DejaVu Serif as shipped with matplotlib (wide Unicode coverage: names with
    any Latin letters print as typed); reportlab's own Times when it is not there."""
    spec = importlib.util.find_spec("matplotlib")
    roots = list(spec.submodule_search_locations or []) if spec else []
    for root in roots:
        ttf = Path(root) / "mpl-data" / "fonts" / "ttf"
        regular, bold = ttf / "DejaVuSerif.ttf", ttf / "DejaVuSerif-Bold.ttf"
        if regular.is_file() and bold.is_file():
            pdfmetrics.registerFont(TTFont("LetterSerif", str(regular)))
            pdfmetrics.registerFont(TTFont("LetterSerif-Bold", str(bold)))
            return "LetterSerif", "LetterSerif-Bold"
    return "Times-Roman", "Times-Bold"


def _style(name: str, size: float = SIZE, align: str = "left", bold: bool = False, leading: float | None = None,
           space_after: float = 5) -> ParagraphStyle:
    regular, heavy = fonts()
    return ParagraphStyle(name, fontName=heavy if bold else regular, fontSize=size,
                          leading=leading or size * 1.3, alignment=ALIGN[align], spaceAfter=space_after)


def _para(text: str, style: ParagraphStyle) -> Paragraph:
    return Paragraph(escape(text).replace("\n", "<br/>"), style)


class MeteraiBox(Flowable):
    """A dashed box where the pilgrim sticks the stamp duty and signs across it."""

    def __init__(self, text: str, width: float = 30 * mm, height: float = 18 * mm) -> None:
        super().__init__()
        self.text, self.width, self.height = text, width, height

    def draw(self) -> None:
        canvas = self.canv
        canvas.setDash(2, 2)
        canvas.setStrokeColor(colors.grey)
        canvas.rect(0, 0, self.width, self.height)
        canvas.setFillColor(colors.grey)
        canvas.setFont(fonts()[0], 7)
        canvas.drawCentredString(self.width / 2, self.height / 2 - 2, self.text)


def _letterhead(head: Letterhead) -> list[Flowable]:
    lines = [_para(head.name.upper(), _style("kop-name", 14, "center", bold=True, space_after=1)),
             _para(head.address, _style("kop-addr", 9.5, "center", space_after=0)),
             _para(f"{head.phone_label} {head.phone}", _style("kop-phone", 9.5, "center", space_after=0))]
    logo = head.logo and Path(head.logo)
    if logo and logo.is_file():
        table = Table([[Image(str(logo), width=20 * mm, height=20 * mm, kind="proportional"), lines]],
                      colWidths=[24 * mm, WIDTH - 24 * mm])
        table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "MIDDLE"), ("LEFTPADDING", (0, 0), (-1, -1), 0)]))
        top: list[Flowable] = [table]
    else:
        top = lines
    return top + [Spacer(1, 2 * mm), HRFlowable(width="100%", thickness=1.6, color=colors.black, spaceAfter=1),
                  HRFlowable(width="100%", thickness=0.5, color=colors.black, spaceAfter=4 * mm)]


def _fields(block: FilledBlock) -> Table:
    body = _style("field", space_after=0)
    rows = [[_para(label, body), _para(":", body), _para(value, body)] for label, value in block.rows]
    table = Table(rows, colWidths=[52 * mm, 4 * mm, WIDTH - 66 * mm], hAlign="LEFT")
    table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (0, -1), 8 * mm),
                               ("LEFTPADDING", (1, 0), (1, -1), 0), ("RIGHTPADDING", (1, 0), (1, -1), 0),
                               ("TOPPADDING", (0, 0), (-1, -1), 0.5), ("BOTTOMPADDING", (0, 0), (-1, -1), 0.5)]))
    return table


def _signature(block: FilledBlock) -> Flowable:
    cells: list[Flowable] = [_para(block.label, _style("sig-label", align="center", space_after=2 * mm))]
    cells.append(MeteraiBox(block.meterai) if block.meterai else Spacer(1, 18 * mm))
    cells.append(Spacer(1, 2 * mm))
    cells.append(_para(f"( {block.text} )", _style("sig-name", align="center", bold=True)))
    table = Table([[cells]], colWidths=[SIGNATURE_WIDTH], hAlign="RIGHT")
    table.setStyle(TableStyle([("ALIGN", (0, 0), (-1, -1), "CENTER")]))
    return KeepTogether([Spacer(1, 2 * mm), table])


def render_letter(letter: FilledLetter, head: Letterhead, footer: str = "") -> tuple[bytes, int]:
    """The letter as PDF bytes, and its number of pages."""
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=12 * mm,
                            bottomMargin=16 * mm, title=letter.heading, author=head.name, subject=letter.name)
    story: list[Flowable] = _letterhead(head)
    story.append(_para(letter.heading, _style("heading", 11.5, "center", bold=True, space_after=4 * mm)))
    for i, block in enumerate(letter.blocks):
        if block.kind == "fields":
            story += [_fields(block), Spacer(1, 2 * mm)]
        elif block.kind == "signature":
            story.append(_signature(block))
        else:
            story.append(_para(block.text, _style(f"p{i}", align=block.align, space_after=2 * mm)))

    def draw_footer(canvas, _doc) -> None:  # type: ignore[no-untyped-def]
        if footer:
            canvas.setFont(fonts()[0], 7.5)
            canvas.setFillColor(colors.grey)
            canvas.drawString(MARGIN, 10 * mm, footer)

    doc.build(story, onFirstPage=draw_footer, onLaterPages=draw_footer)
    return buffer.getvalue(), int(doc.page)
