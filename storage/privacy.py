"""Data subject requests (UU 27/2022): find everything about one person, export it, erase it.

A subject is given as one of
- `CHANNEL:USER_ID` — one chat, e.g. `telegram:123456789`, `webchat:abc`, `whatsapp:+6281234567890`
- a phone number (`+6281234567890`, `6281234567890`, `081234567890`) — their WhatsApp chat
- a nomor porsi (10 digits) or NIK (16 digits) — the pilgrim's registry row, their cases and every chat
  linked to that pilgrim or to those cases.
The registry row itself (data from the Ministry's SISKOHAT) is exported but not erased.
"""
from __future__ import annotations

import io
import json
import re
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, inspect, or_, select, update

from storage.db import Database
from storage.files import FileStore
from storage.models import (
    Appointment, AuditLog, Case, CaseDocument, Conversation, Message, Pilgrim, SkmAnswer, VerificationAttempt,
)
from storage.retention import delete_unreferenced_files
from storage.update_models import PilgrimUpdate

CHANNELS = ("webchat", "telegram", "whatsapp", "console")


class SubjectNotFound(Exception):
    pass


@dataclass
class Subject:
    query: str
    conversation_ids: list[int] = field(default_factory=list)
    case_ids: list[int] = field(default_factory=list)
    pilgrim_id: int | None = None


def phone_variants(value: str) -> list[str]:
    digits = re.sub(r"\D", "", value)
    if digits.startswith("0"):
        digits = "62" + digits[1:]
    return [f"whatsapp:+{digits}", f"+{digits}", digits]


async def find_subject(db: Database, query: str) -> Subject:
    """Resolve a subject query (see module docstring); raises SubjectNotFound."""
    query = query.strip()
    subject = Subject(query)
    async with db.session() as session:
        channel, _, user_id = query.partition(":")
        if channel in CHANNELS and user_id:
            conditions = [(Conversation.channel == channel) & (Conversation.channel_user_id == user_id)]
        elif re.fullmatch(r"\d{10}|\d{16}", query):
            column = Pilgrim.nomor_porsi if len(query) == 10 else Pilgrim.nik
            pilgrim = (await session.execute(select(Pilgrim).where(column == query))).scalars().first()
            subject.pilgrim_id = pilgrim.id if pilgrim else None
            case_filter = [Case.nomor_porsi == query] if len(query) == 10 else []
            if pilgrim is not None:
                case_filter += [Case.pilgrim_id == pilgrim.id, Case.nomor_porsi == pilgrim.nomor_porsi]
            cases = (await session.execute(select(Case).where(or_(*case_filter)))).scalars().all() if case_filter else []
            subject.case_ids = [c.id for c in cases]
            conditions = [Conversation.id.in_([c.conversation_id for c in cases if c.conversation_id])]
            if pilgrim is not None:
                conditions.append(Conversation.pilgrim_id == pilgrim.id)
        elif re.fullmatch(r"\+?[\d \-]{8,20}", query):
            conditions = [(Conversation.channel == "whatsapp") & Conversation.channel_user_id.in_(phone_variants(query))]
        else:
            raise SubjectNotFound(f"not a CHANNEL:USER_ID, phone, nomor porsi or NIK: {query[:40]!r}")
        subject.conversation_ids = sorted(
            (await session.execute(select(Conversation.id).where(or_(*conditions)))).scalars().all())
        if subject.conversation_ids:
            more = (await session.execute(select(Case.id).where(
                Case.conversation_id.in_(subject.conversation_ids)))).scalars().all()
            subject.case_ids = sorted(set(subject.case_ids) | set(more))
    if not subject.conversation_ids and not subject.case_ids and subject.pilgrim_id is None:
        raise SubjectNotFound(f"nobody found for {query[:40]!r}")
    return subject


def _row(obj: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for attr in inspect(obj).mapper.column_attrs:
        value = getattr(obj, attr.key)
        out[attr.key] = value.isoformat() if isinstance(value, (datetime, date)) else value
    return out


async def export_subject(db: Database, files: FileStore, subject: Subject) -> bytes:
    """A ZIP: `data.json` (pilgrim, conversations, messages, cases, documents, appointments, audit) and the
    documents themselves under `documents/` (decrypted)."""
    async with db.session() as session:
        conv_ids, case_ids = subject.conversation_ids, subject.case_ids
        pilgrim = await session.get(Pilgrim, subject.pilgrim_id) if subject.pilgrim_id else None
        data: dict[str, Any] = {
            "subject": subject.query,
            "exported_at": datetime.now().astimezone().isoformat(),
            "pilgrim": _row(pilgrim) if pilgrim else None,
            "conversations": [_row(c) for c in (await session.execute(
                select(Conversation).where(Conversation.id.in_(conv_ids)))).scalars()],
            "messages": [_row(m) for m in (await session.execute(
                select(Message).where(Message.conversation_id.in_(conv_ids)).order_by(Message.id))).scalars()],
            "cases": [_row(c) for c in (await session.execute(select(Case).where(Case.id.in_(case_ids)))).scalars()],
            "documents": [_row(d) for d in (await session.execute(select(CaseDocument).where(or_(
                CaseDocument.case_id.in_(case_ids), CaseDocument.conversation_id.in_(conv_ids))))).scalars()],
            "appointments": [_row(a) for a in (await session.execute(select(Appointment).where(or_(
                Appointment.case_id.in_(case_ids), Appointment.conversation_id.in_(conv_ids))))).scalars()],
            "audit": [_row(a) for a in (await session.execute(select(AuditLog).where(or_(
                AuditLog.case_id.in_(case_ids), AuditLog.conversation_id.in_(conv_ids))))).scalars()],
            "personal_updates": [_row(u) for u in (await session.execute(
                select(PilgrimUpdate).where(PilgrimUpdate.conversation_id.in_(conv_ids)).order_by(PilgrimUpdate.id)
            )).scalars()],
            "satisfaction_survey": [_row(a) for a in (await session.execute(
                select(SkmAnswer).where(SkmAnswer.case_id.in_(case_ids)).order_by(SkmAnswer.id))).scalars()],
        }
    shas = {d["sha256"] for d in data["documents"]}
    shas |= {a["sha256"] for m in data["messages"] for a in m["attachments"] or [] if a.get("sha256")}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("data.json", json.dumps(data, ensure_ascii=False, indent=2, default=str))
        for sha in sorted(shas):
            try:
                archive.writestr(f"documents/{sha}", await files.read(sha))
            except FileNotFoundError:
                continue
    return buffer.getvalue()


@dataclass
class EraseReport:
    conversations: int
    messages: int
    documents: int
    cases_anonymised: int
    files_deleted: int


async def erase_subject(db: Database, files: FileStore, subject: Subject, actor: str = "cli") -> EraseReport:
    """Delete chats and documents, anonymise cases (ticket, service, status and dates stay for the office's
    statistics), forget the chat's identity. One AuditLog entry per conversation/case, with no personal data."""
    conv_ids, case_ids = subject.conversation_ids, subject.case_ids
    async with db.session() as session:
        messages = (await session.execute(select(Message.id, Message.attachments).where(
            Message.conversation_id.in_(conv_ids)))).all()
        shas = {a["sha256"] for m in messages for a in m.attachments or [] if isinstance(a, dict) and a.get("sha256")}
        docs = (await session.execute(select(CaseDocument).where(or_(
            CaseDocument.case_id.in_(case_ids), CaseDocument.conversation_id.in_(conv_ids))))).scalars().all()
        shas |= {d.sha256 for d in docs}
        ids = [m.id for m in messages]
        await session.execute(update(Message).where(Message.reply_to_id.in_(ids)).values(reply_to_id=None))
        await session.execute(delete(Message).where(Message.id.in_(ids)))
        await session.execute(delete(CaseDocument).where(CaseDocument.id.in_([d.id for d in docs])))
        await session.execute(delete(VerificationAttempt).where(VerificationAttempt.conversation_id.in_(conv_ids)))
        await session.execute(delete(PilgrimUpdate).where(PilgrimUpdate.conversation_id.in_(conv_ids)))
        await session.execute(update(Case).where(Case.id.in_(case_ids)).values(
            applicant_name=None, answers={}, nomor_porsi=None, pilgrim_id=None))
        for conversation in (await session.execute(
                select(Conversation).where(Conversation.id.in_(conv_ids)))).scalars():
            conversation.channel_user_id = f"erased-{conversation.id}"
            conversation.display_name = None
            conversation.state = {}
            conversation.pilgrim_id = None
            conversation.subscribed = False
            session.add(AuditLog(actor=actor, action="privacy.erased", conversation_id=conversation.id,
                                 detail={"messages": sum(1 for _ in ids)}))
        for case_id in case_ids:
            session.add(AuditLog(actor=actor, action="privacy.erased", case_id=case_id,
                                 detail={"documents": sum(1 for d in docs if d.case_id == case_id)}))
        await session.commit()
    deleted = await delete_unreferenced_files(db, files, shas)
    return EraseReport(len(conv_ids), len(ids), len(docs), len(case_ids), deleted)
