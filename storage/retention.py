"""Data retention (UU 27/2022): delete what is no longer needed, with an audit entry for each deletion.

- Documents of closed cases: `closed_case_documents_days` after `Case.closed_at` the case's document rows
  are deleted, the files removed from the store (unless something else still references the same bytes)
  and the references in the case's chat messages replaced by a `{"deleted": "retention"}` marker.
  One AuditLog entry per case (`retention.documents_deleted`).
- Chat transcripts: messages older than `messages_days` (inbound processed/failed, outbound final) are
  deleted with their attachments; conversations idle that long lose their dialogue state and display name.
  One AuditLog entry per run (`retention.messages_deleted`) with counts.

Database rows are committed before files are removed: a crash in between can leave an unreferenced file
behind, never a reference to a missing file.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from sqlalchemy import String, cast, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import Database
from storage.files import FileStore
from storage.models import AuditLog, Case, CaseDocument, Conversation, Message

log = logging.getLogger(__name__)

FINAL_STATUSES = ("processed", "failed", "sent", "delivered", "read", "undeliverable")
DELETED_MARKER = "retention"


@dataclass
class RetentionReport:
    cases: int = 0
    documents_deleted: int = 0
    messages_deleted: int = 0
    conversations_cleared: int = 0
    files_deleted: int = 0
    shas: set[str] = field(default_factory=set)

    def as_dict(self) -> dict[str, int]:
        return {"cases": self.cases, "documents_deleted": self.documents_deleted,
                "messages_deleted": self.messages_deleted, "conversations_cleared": self.conversations_cleared,
                "files_deleted": self.files_deleted}


async def apply_retention(db: Database, files: FileStore, documents_days: int, messages_days: int,
                          batch: int = 500, now: datetime | None = None, actor: str = "system") -> RetentionReport:
    """Run both retention rules until nothing is due; 0 days disables a rule."""
    now = now or datetime.now(timezone.utc)
    report = RetentionReport()
    if documents_days > 0:
        await _closed_case_documents(db, files, now - timedelta(days=documents_days), batch, actor, report)
    if messages_days > 0:
        await _old_messages(db, files, now - timedelta(days=messages_days), batch, actor, report)
    if report.documents_deleted or report.messages_deleted:
        log.info("retention: %s", report.as_dict())
    return report


async def _closed_case_documents(db: Database, files: FileStore, cutoff: datetime, batch: int, actor: str,
                                 report: RetentionReport) -> None:
    while True:
        async with db.session() as session:
            cases = (await session.execute(
                select(Case).where(Case.closed_at.is_not(None), Case.closed_at < cutoff,
                                   Case.id.in_(select(CaseDocument.case_id).where(CaseDocument.case_id.is_not(None))))
                .order_by(Case.id).limit(batch))).scalars().all()
            if not cases:
                return
            shas: set[str] = set()
            for case in cases:
                docs = (await session.execute(select(CaseDocument).where(CaseDocument.case_id == case.id))).scalars().all()
                case_shas = {d.sha256 for d in docs}
                await session.execute(delete(CaseDocument).where(CaseDocument.case_id == case.id))
                if case.conversation_id is not None:
                    await scrub_message_attachments(session, case_shas, [case.conversation_id])
                session.add(AuditLog(actor=actor, action="retention.documents_deleted", case_id=case.id,
                                     conversation_id=case.conversation_id,
                                     detail={"documents": len(docs), "items": sorted({d.item_key for d in docs}),
                                             "closed_at": case.closed_at.isoformat() if case.closed_at else None}))
                report.documents_deleted += len(docs)
                shas |= case_shas
            report.cases += len(cases)
            await session.commit()
        report.files_deleted += await delete_unreferenced_files(db, files, shas)


async def _old_messages(db: Database, files: FileStore, cutoff: datetime, batch: int, actor: str,
                        report: RetentionReport) -> None:
    deleted = 0
    conversations: set[int] = set()
    while True:
        async with db.session() as session:
            rows = (await session.execute(
                select(Message.id, Message.conversation_id, Message.attachments)
                .where(Message.created_at < cutoff, Message.status.in_(FINAL_STATUSES))
                .order_by(Message.id).limit(batch))).all()
            if not rows:
                break
            ids = [r.id for r in rows]
            shas = {a["sha256"] for r in rows for a in (r.attachments or []) if isinstance(a, dict) and a.get("sha256")}
            await session.execute(update(Message).where(Message.reply_to_id.in_(ids)).values(reply_to_id=None))
            await session.execute(delete(Message).where(Message.id.in_(ids)))
            await session.commit()
        deleted += len(ids)
        conversations |= {r.conversation_id for r in rows}
        report.files_deleted += await delete_unreferenced_files(db, files, shas)
    async with db.session() as session:
        result = await session.execute(
            update(Conversation).where(Conversation.last_inbound_at < cutoff, Conversation.display_name.is_not(None)
                                       | (func.length(cast(Conversation.state, String)) > 2))
            .values(state={}, display_name=None))
        cleared = result.rowcount or 0
        if deleted or cleared:
            session.add(AuditLog(actor=actor, action="retention.messages_deleted",
                                 detail={"messages": deleted, "conversations": len(conversations),
                                         "conversations_cleared": cleared, "before": cutoff.isoformat()}))
        await session.commit()
    report.messages_deleted += deleted
    report.conversations_cleared += cleared


async def scrub_message_attachments(session: AsyncSession, shas: set[str], conversation_ids: list[int]) -> None:
    """Replace references to `shas` in these conversations' messages by a deletion marker."""
    if not shas:
        return
    messages = (await session.execute(select(Message).where(
        Message.conversation_id.in_(conversation_ids), func.length(cast(Message.attachments, String)) > 2,
    ))).scalars().all()
    for message in messages:
        attachments = message.attachments or []
        if any(isinstance(a, dict) and a.get("sha256") in shas for a in attachments):
            message.attachments = [
                {"filename": a.get("filename", ""), "deleted": DELETED_MARKER}
                if isinstance(a, dict) and a.get("sha256") in shas else a for a in attachments]


async def is_referenced(session: AsyncSession, sha256: str) -> bool:
    """True when a case document or any message still references these bytes."""
    if (await session.execute(select(CaseDocument.id).where(CaseDocument.sha256 == sha256).limit(1))).first():
        return True
    like = cast(Message.attachments, String).like(f"%{sha256}%")
    return (await session.execute(select(Message.id).where(like).limit(1))).first() is not None


async def delete_unreferenced_files(db: Database, files: FileStore, shas: set[str]) -> int:
    count = 0
    for sha in sorted(shas):
        async with db.session() as session:
            if await is_referenced(session, sha):
                continue
        if files.delete_sync(sha):
            count += 1
    return count
