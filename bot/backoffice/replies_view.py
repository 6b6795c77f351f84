"""What the pilgrim sent in reply to staff, and message attachments as the staff pages show them
(voice notes get an audio player, locations and contact cards their details)."""
from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import AuditLog, Case, Message

REPLY_ACTIONS = ("pilgrim_reply", "document_late")
PLAYABLE = ("voice", "audio")


def attachment_view(message_id: int, index: int, attachment: dict[str, Any]) -> dict[str, Any]:
    """One attachment of a message (index from 1): its kind, a served URL for stored files, share details."""
    kind = str(attachment.get("kind") or "document")
    url = f"/backoffice/messages/{message_id}/attachments/{index}" if attachment.get("sha256") else ""
    return {"kind": kind, "url": url, "playable": kind in PLAYABLE and bool(url),
            "filename": attachment.get("filename") or "", "content_type": attachment.get("content_type") or "",
            "latitude": attachment.get("latitude"), "longitude": attachment.get("longitude"),
            "label": attachment.get("label") or "", "name": attachment.get("name") or "",
            "phone": attachment.get("phone") or ""}


def attachments_view(message: Message) -> list[dict[str, Any]]:
    return [attachment_view(message.id, i, a) for i, a in enumerate(message.attachments or [], start=1)]


async def pilgrim_replies(session: AsyncSession, case_id: int) -> list[dict[str, Any]]:
    """The pilgrim's replies to staff and late documents for a case, oldest first."""
    entries = (await session.execute(select(AuditLog).where(
        AuditLog.case_id == case_id, AuditLog.action.in_(REPLY_ACTIONS)).order_by(AuditLog.id))).scalars().all()
    ids = [int(e.detail["message_id"]) for e in entries if (e.detail or {}).get("message_id")]
    messages = {m.id: m for m in (await session.execute(select(Message).where(Message.id.in_(ids)))).scalars()} \
        if ids else {}
    out = []
    for entry in entries:
        message = messages.get(int((entry.detail or {}).get("message_id") or 0))
        out.append({"at": entry.at, "action": entry.action, "detail": entry.detail or {},
                    "text": message.text if message is not None else "",
                    "message_id": message.id if message is not None else None,
                    "attachments": attachments_view(message) if message is not None else []})
    return out


async def reply_tickets(session: AsyncSession, conversation_id: int) -> dict[int, str]:
    """Message id -> ticket, for the messages of a conversation that reached a case as a reply."""
    rows = (await session.execute(select(AuditLog.detail, Case.ticket).join(Case, Case.id == AuditLog.case_id).where(
        AuditLog.conversation_id == conversation_id, AuditLog.action.in_(REPLY_ACTIONS)))).all()
    return {int(d["message_id"]): t for d, t in rows if (d or {}).get("message_id")}


async def unanswered_replies(session: AsyncSession, case_ids: list[int] | None = None,
                             limit: int = 50) -> dict[int, dict[str, Any]]:
    """Cases whose latest pilgrim reply or late document came after the latest staff action on them:
    {case id: {"at", "ticket", "action", "conversation_id", "text"}} (newest first, at most `limit`)."""
    query = select(AuditLog.case_id, func.max(AuditLog.id)).where(
        AuditLog.action.in_(REPLY_ACTIONS), AuditLog.case_id.is_not(None)).group_by(AuditLog.case_id)
    if case_ids is not None:
        if not case_ids:
            return {}
        query = query.where(AuditLog.case_id.in_(case_ids))
    latest = dict((await session.execute(query)).all())
    if not latest:
        return {}
    staff = dict((await session.execute(select(AuditLog.case_id, func.max(AuditLog.id)).where(
        AuditLog.case_id.in_(list(latest)), AuditLog.actor.like("staff:%"),
        AuditLog.action.not_in(("case.view",))).group_by(AuditLog.case_id))).all())
    waiting = sorted((audit_id for case_id, audit_id in latest.items() if audit_id > staff.get(case_id, 0)),
                     reverse=True)[:limit]
    if not waiting:
        return {}
    rows = (await session.execute(select(AuditLog, Case.ticket, Case.status).join(Case, Case.id == AuditLog.case_id)
                                  .where(AuditLog.id.in_(waiting)).order_by(AuditLog.id.desc()))).all()
    message_ids = [int(a.detail["message_id"]) for a, _t, _s in rows if (a.detail or {}).get("message_id")]
    texts = dict((await session.execute(select(Message.id, Message.text).where(Message.id.in_(message_ids))))
                 .all()) if message_ids else {}
    return {int(a.case_id): {"case_id": int(a.case_id), "at": a.at, "ticket": ticket, "status": status, "action": a.action,
                             "conversation_id": a.conversation_id,
                             "text": (texts.get(int((a.detail or {}).get("message_id") or 0)) or "")[:120]}
            for a, ticket, status in rows if status not in ("rejected", "completed")}
