"""What the pilgrim sent in reply to staff, and message attachments as the staff pages show them
(voice notes get an audio player, locations and contact cards their details)."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import AuditLog, Message

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
    from storage.models import Case

    rows = (await session.execute(select(AuditLog.detail, Case.ticket).join(Case, Case.id == AuditLog.case_id).where(
        AuditLog.conversation_id == conversation_id, AuditLog.action.in_(REPLY_ACTIONS)))).all()
    return {int(d["message_id"]): t for d, t in rows if (d or {}).get("message_id")}
