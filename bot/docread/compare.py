"""What staff see about a case's identity documents: what OCR read, compared with what the pilgrim typed
and with the porsi registry. A difference is a warning for staff to look at, never a decision.

Computed when the case page is shown, from the stored reading and the case's current answers, so a
correction of the answers or a registry re-import is reflected at once."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.docread.extract import name_in_text, normalize_name, same_name
from bot.docread.job import FAILED, READ, READABLE_TYPES
from dialogues.schema import DocumentReadingRules, ReadingPerson
from storage.models import Case, CaseDocument, Pilgrim

UNAVAILABLE, PENDING, NOT_READABLE = "unavailable", "pending", "not_readable"


@dataclass(frozen=True)
class Check:
    """One comparison: `what` nik|name|registered, against `source` registry|typed."""

    what: str
    source: str
    ok: bool
    expected: str = ""
    found: str = ""


@dataclass
class DocReading:
    status: str  # unavailable | pending | read | failed | not_readable
    person: str = ""
    niks: list[str] = field(default_factory=list)
    name: str | None = None
    checks: list[Check] = field(default_factory=list)
    unread: list[str] = field(default_factory=list)  # "nik", "name": expected but not legible

    @property
    def warnings(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]


async def case_readings(session: AsyncSession, rules: DocumentReadingRules | None, available: bool, case: Case,
                        documents: list[CaseDocument], pilgrim: Pilgrim | None) -> dict[int, DocReading]:
    """The reading of every identity document of the case, by document id."""
    if rules is None or not rules.enabled:
        return {}
    docs = [d for d in documents if d.item_key in rules.items and d.status != "replaced"]
    read_niks = {n for d in docs if d.ocr_status == READ for n in (d.ocr or {}).get("niks", [])}
    registered = await _registered(session, read_niks) if any(
        rules.persons[rules.items[d.item_key]].registry == "nik" for d in docs) else {}
    answers = case.answers or {}
    out: dict[int, DocReading] = {}
    for doc in docs:
        person = rules.persons[rules.items[doc.item_key]]
        out[doc.id] = _reading(doc, person, answers, pilgrim, registered, available)
    return out


def _reading(doc: CaseDocument, person: ReadingPerson, answers: dict[str, Any], pilgrim: Pilgrim | None,
             registered: dict[str, Pilgrim], available: bool) -> DocReading:
    if doc.content_type not in READABLE_TYPES:
        return DocReading(NOT_READABLE, person.label)
    if doc.ocr_status == FAILED:
        return DocReading(FAILED, person.label)
    if doc.ocr_status != READ:
        return DocReading(PENDING if available else UNAVAILABLE, person.label)
    found = doc.ocr or {}
    niks, name, text = list(found.get("niks") or []), found.get("name"), str(found.get("text") or "")
    view = DocReading(READ, person.label, niks, name)
    expected_niks: list[tuple[str, str]] = []
    expected_names: list[tuple[str, str]] = []
    if person.registry == "porsi" and pilgrim is not None:
        expected_niks.append(("registry", pilgrim.nik))
        expected_names.append(("registry", pilgrim.nama))
    if person.nik_answer and answers.get(person.nik_answer):
        expected_niks.append(("typed", str(answers[person.nik_answer])))
    if person.name_answer and answers.get(person.name_answer):
        expected_names.append(("typed", str(answers[person.name_answer])))
    for source, nik in expected_niks:
        if not niks:
            view.unread.append("nik")
            break
        view.checks.append(Check("nik", source, nik in niks, nik, ", ".join(niks)))
    legible = bool(name or niks)  # a photo too poor for any field says nothing about the name
    for source, expected in expected_names:
        ok = bool(name and same_name(name, expected)) or name_in_text(expected, text)
        if not ok and not legible:
            view.unread.append("name")
            break
        view.checks.append(Check("name", source, ok, normalize_name(expected), name or ""))
    if person.registry == "nik":
        for nik in niks:
            if nik in registered:
                hit = registered[nik]
                view.checks.append(Check("registered", "registry", False, nik,
                                         f"{hit.nomor_porsi} {hit.nama}"))
    view.unread = list(dict.fromkeys(view.unread))
    return view


async def _registered(session: AsyncSession, niks: set[str]) -> dict[str, Pilgrim]:
    if not niks:
        return {}
    rows = (await session.execute(select(Pilgrim).where(Pilgrim.nik.in_(sorted(niks))))).scalars().all()
    return {p.nik: p for p in rows}
