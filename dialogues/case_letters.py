"""A case's ready-to-sign letters: which templates apply, the values they are filled with, rendering in the
worker pool, storing in the (encrypted) file store and attaching to the case as generated documents.
Used when the pilgrim submits (flow action `prepare_letters`) and when staff regenerate after corrections."""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import date, datetime
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dialogues import offload
from dialogues.letter_templates import FilledLetter, Letterhead, LetterTemplate, fill_letter
from dialogues.parsing import format_date
from storage.files import FileStore
from storage.models import AuditLog, Case, CaseDocument, Conversation, Pilgrim

if TYPE_CHECKING:
    from dialogues.engine import DialogueEngine

log = logging.getLogger(__name__)

ITEM_PREFIX = "letter:"  # CaseDocument.item_key of a generated letter: "letter:<template key>"
GENERATED = "generated"  # CaseDocument.status of the current generated letter (old ones become "replaced")
PDF = "application/pdf"
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
CITY_PREFIXES = ("kota administrasi ", "kota ", "kabupaten ", "kab. ")


@dataclass(frozen=True)
class GeneratedLetter:
    key: str
    name: str
    attachment: dict[str, Any]  # StoredFile.to_json() as an outbound message carries it
    document_id: int


def is_letter(doc: CaseDocument) -> bool:
    return doc.item_key.startswith(ITEM_PREFIX)


def office_city(kab_kota: str) -> str:
    """'Kota Bukittinggi' -> 'Bukittinggi' (the place line of a letter)."""
    lowered = kab_kota.lower()
    for prefix in CITY_PREFIXES:
        if lowered.startswith(prefix):
            return kab_kota[len(prefix):].strip()
    return kab_kota


def channel_phone(conversation: Conversation | None) -> str | None:
    """The pilgrim's phone number when the chat is on WhatsApp (the only channel that knows it)."""
    if conversation is None or conversation.channel != "whatsapp":
        return None
    number = conversation.channel_user_id.removeprefix("whatsapp:")
    return number if re.fullmatch(r"\+?\d{8,15}", number) else None


def letter_values(engine: "DialogueEngine", case: Case, pilgrim: Pilgrim | None,
                  conversation: Conversation | None, now: datetime) -> dict[str, Any]:
    """What the placeholders are filled with: the case's answers (dates written out), office and registry."""
    lex = engine.lexicon
    values: dict[str, Any] = {}
    for key, value in (case.answers or {}).items():
        if key.startswith("_") or isinstance(value, (dict, list)):
            continue
        if isinstance(value, str) and ISO_DATE.match(value):
            value = format_date(date.fromisoformat(value), lex)
        values[key] = value
    answers = case.answers or {}
    reason = answers.get("reason_detail") if answers.get("reason") == "lainnya" else answers.get("reason_label")
    office = engine.office
    values.update({
        "office_name": office.name, "office_kab_kota": office.kab_kota, "office_provinsi": office.provinsi,
        "office_address": office.address, "office_phone": office.phone, "office_city": office_city(office.kab_kota),
        "letter_date": format_date(now.astimezone(engine.tz).date(), lex), "ticket": case.ticket,
        "nomor_porsi": case.nomor_porsi, "pilgrim_name": pilgrim.nama if pilgrim else None,
        "pilgrim_dob": format_date(pilgrim.tanggal_lahir, lex) if pilgrim else None,
        "phone": channel_phone(conversation), "reason_text": reason,
    })
    return values


def pdf_renderer() -> Callable[[FilledLetter, Letterhead, str], tuple[bytes, int]]:
    """`dialogues.letter_pdf.render_letter`, imported with the first letter: reportlab (~10 MB) is not loaded
    by a serving process that never makes one (the rendering itself runs in the worker pool)."""
    from dialogues.letter_pdf import render_letter

    return render_letter


def letterhead(engine: "DialogueEngine") -> Letterhead:
    office = engine.office
    return Letterhead(office.name, office.address, office.phone, engine.letter_logo)


def templates_for(engine: "DialogueEngine", case: Case) -> list[LetterTemplate]:
    return [t for t in engine.letters if t.applies(case.service, case.variant)]


async def make_letters(engine: "DialogueEngine", session: AsyncSession, files: FileStore, case: Case,
                       now: datetime, actor: str) -> list[GeneratedLetter]:
    """Render every letter that applies to `case`, store them and attach them to the case (earlier generated
    letters become `replaced`); one audit entry. The caller commits. Empty when no template applies."""
    templates = templates_for(engine, case)
    if not templates:
        return []
    pilgrim = await session.get(Pilgrim, case.pilgrim_id) if case.pilgrim_id else None
    conversation = await session.get(Conversation, case.conversation_id) if case.conversation_id else None
    values = letter_values(engine, case, pilgrim, conversation, now)
    head = letterhead(engine)
    footer = engine.text("letter_footer", None, ticket=case.ticket,
                         date=format_date(now.astimezone(engine.tz).date(), engine.lexicon))
    rendered = []
    for template in templates:
        pdf, pages = await offload.run(pdf_renderer(), fill_letter(template, values), head, footer)
        stored = await files.put(pdf, f"{template.key.replace('_', '-')}-{case.ticket}.pdf")
        rendered.append((template, stored, pages))
    await session.execute(update(CaseDocument).where(
        CaseDocument.case_id == case.id, CaseDocument.item_key.startswith(ITEM_PREFIX, autoescape=True),
        CaseDocument.status == GENERATED).values(status="replaced"))
    out: list[GeneratedLetter] = []
    for template, stored, pages in rendered:
        doc = CaseDocument(case_id=case.id, conversation_id=case.conversation_id,
                           item_key=f"{ITEM_PREFIX}{template.key}", sha256=stored.sha256, content_type=PDF,
                           size=stored.size, page_count=pages, warnings=[], status=GENERATED, created_at=now)
        session.add(doc)
        await session.flush()
        out.append(GeneratedLetter(template.key, template.name, stored.to_json(), doc.id))
    session.add(AuditLog(at=now, actor=actor[:100], action="case.letters_generated", case_id=case.id,
                         conversation_id=case.conversation_id,
                         detail={"letters": [g.key for g in out], "documents": [g.document_id for g in out]}))
    return out


def letters_message(engine: "DialogueEngine", case: Case, letters: list[GeneratedLetter], key: str) -> str:
    """The chat text that goes with the PDFs (response `key`: letters_ready or letters_regenerated)."""
    names = "\n".join(f"- {g.name}" for g in letters)
    return engine.text(key, None, ticket=case.ticket, letters=names)


async def case_by_ticket(session: AsyncSession, ticket: str | None) -> Case | None:
    if not ticket:
        return None
    return (await session.execute(select(Case).where(Case.ticket == ticket))).scalar_one_or_none()
