"""Live hand-off inbox: conversations waiting for a person; take over, reply, return to the bot.
The pages poll small JSON endpoints, so new conversations and messages appear without reloading."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.backoffice import audit
from bot.backoffice.notify import queue_text, render as render_template, wake_outbox
from bot.backoffice.replies_view import attachments_view, reply_tickets, unanswered_replies
from bot.backoffice.texts import staff_text
from bot.backoffice.web_common import (
    PREFIX, bo, current_staff, form, int_param, now_utc, path_int, redirect, render,
)
from storage.models import Case, Conversation, Message, Pilgrim, StaffUser

HANDOFF_MODES = ("waiting_staff", "staff")
MAX_REPLY = 4000
HISTORY = 200


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def masked_id(channel_user_id: str) -> str:
    """A pilgrim without a name: the last digits/characters of the phone number or chat id only."""
    tail = channel_user_id.split(":")[-1][-4:]
    return staff_text("inbox_unnamed", tail=tail)


def pilgrim_name(conversation: Conversation, registry_name: str | None) -> str:
    """The verified registry link's name, else the channel's display name, else a masked id."""
    return registry_name or conversation.display_name or masked_id(conversation.channel_user_id)


def message_summary(message: Message | None) -> str:
    """What a message says, for a list: its text, or the names of the files it carries."""
    if message is None:
        return ""
    if (message.text or "").strip():
        return message.text[:120]
    names = ", ".join(a.get("filename") or a.get("content_type") or a.get("kind") or "-"
                      for a in message.attachments or [])
    return staff_text("inbox_files_only", names=names)[:120] if names else ""


async def inbox_rows(session: AsyncSession) -> list[dict[str, Any]]:
    conversations = (await session.execute(select(Conversation).where(Conversation.mode.in_(HANDOFF_MODES))
                                           .order_by(Conversation.handoff_since.asc().nulls_last(),
                                                     Conversation.id))).scalars().all()
    if not conversations:
        return []
    ids = [c.id for c in conversations]
    names = dict((await session.execute(select(StaffUser.id, StaffUser.display_name))).all())
    pilgrim_ids = {c.pilgrim_id for c in conversations if c.pilgrim_id}
    registry = dict((await session.execute(select(Pilgrim.id, Pilgrim.nama).where(Pilgrim.id.in_(pilgrim_ids)))
                     ).all()) if pilgrim_ids else {}
    last_in_ids = (select(func.max(Message.id)).where(Message.conversation_id.in_(ids), Message.direction == "in")
                   .group_by(Message.conversation_id))
    last_in = {m.conversation_id: m for m in (await session.execute(
        select(Message).where(Message.id.in_(last_in_ids)))).scalars().all()}
    last_any = dict((await session.execute(select(Message.conversation_id, func.max(Message.id))
                                           .where(Message.conversation_id.in_(ids))
                                           .group_by(Message.conversation_id))).all())
    rows = []
    for c in conversations:
        last = last_in.get(c.id)
        last_id = int(last_any.get(c.id) or 0)
        rows.append({"id": c.id, "channel": c.channel, "name": pilgrim_name(c, registry.get(c.pilgrim_id or 0)),
                     "mode": c.mode, "since": _iso(c.handoff_since or c.updated_at),
                     "staff": names.get(c.handoff_staff_id or 0, ""),
                     "last_text": message_summary(last), "last_at": _iso(last.created_at) if last else None,
                     "last_id": last_id, "last_from_user": bool(last and last.id == last_id)})
    return rows


async def inbox_page(request: web.Request) -> web.Response:
    context = bo(request)
    async with context.services.db.session() as session:
        rows = await inbox_rows(session)
        replies = list((await unanswered_replies(session)).values())
    now = now_utc()
    opening = context.rules.next_opening(now)
    return render(request, "inbox.jinja2", {"rows": rows, "replies": replies,
                                            "office_open": context.rules.is_open(now),
                                            "next_opening": opening, "poll_seconds": context.settings.inbox_poll_seconds})


async def inbox_json(request: web.Request) -> web.Response:
    async with bo(request).services.db.session() as session:
        rows = await inbox_rows(session)
    return web.json_response({"conversations": rows})


def message_json(m: Message, names: dict[int, str], tickets: dict[int, str] | None = None) -> dict[str, Any]:
    """A message for the staff pages; `tickets` marks the pilgrim's replies to a case."""
    return {"id": m.id, "direction": m.direction, "sender": m.sender, "text": m.text,
            "staff": names.get(m.staff_id or 0, ""), "at": _iso(m.created_at), "status": m.status,
            "reply_to_ticket": (tickets or {}).get(m.id, ""), "attachments": attachments_view(m)}


async def load_conversation(session: AsyncSession, conversation_id: int) -> Conversation:
    conversation = await session.get(Conversation, conversation_id)
    if conversation is None:
        raise web.HTTPNotFound(text=staff_text("not_found"))
    return conversation


async def conversation_page(request: web.Request) -> web.Response:
    context = bo(request)
    conversation_id = path_int(request, "conversation_id")
    async with context.services.db.session() as session:
        conversation = await load_conversation(session, conversation_id)
        messages = list(reversed((await session.execute(
            select(Message).where(Message.conversation_id == conversation.id).order_by(Message.id.desc())
            .limit(HISTORY))).scalars().all()))
        names = dict((await session.execute(select(StaffUser.id, StaffUser.display_name))).all())
        cases = (await session.execute(select(Case).where(Case.conversation_id == conversation.id)
                                       .order_by(Case.id.desc()).limit(20))).scalars().all()
        pilgrim = await session.get(Pilgrim, conversation.pilgrim_id) if conversation.pilgrim_id else None
        tickets = await reply_tickets(session, conversation.id)
        audit.record(session, f"staff:{current_staff(request).username}", "conversation.view",
                     conversation_id=conversation.id)
        await session.commit()
    return render(request, "conversation.jinja2", {
        "conversation": conversation, "title": pilgrim_name(conversation, pilgrim.nama if pilgrim else None),
        "messages": [message_json(m, names, tickets) for m in messages], "cases": cases,
        "pilgrim": pilgrim, "handler": names.get(conversation.handoff_staff_id or 0, ""),
        "last_id": messages[-1].id if messages else 0, "poll_seconds": context.settings.inbox_poll_seconds})


async def conversation_messages_json(request: web.Request) -> web.Response:
    conversation_id = path_int(request, "conversation_id")
    after = int_param(request.query.get("after"), 0) or 0
    async with bo(request).services.db.session() as session:
        conversation = await load_conversation(session, conversation_id)
        rows = (await session.execute(select(Message).where(Message.conversation_id == conversation.id,
                                                            Message.id > after)
                                      .order_by(Message.id).limit(HISTORY))).scalars().all()
        names = dict((await session.execute(select(StaffUser.id, StaffUser.display_name))).all())
        tickets = await reply_tickets(session, conversation.id)
    return web.json_response({"mode": conversation.mode,
                              "messages": [message_json(m, names, tickets) for m in rows]})


def _take(conversation: Conversation, staff: StaffUser, now: datetime) -> None:
    conversation.mode = "staff"
    conversation.handoff_staff_id = staff.id
    if conversation.handoff_since is None:
        conversation.handoff_since = now


async def take_over(request: web.Request) -> web.Response:
    context = bo(request)
    staff = current_staff(request)
    conversation_id = path_int(request, "conversation_id")
    async with context.services.db.session() as session:
        conversation = await load_conversation(session, conversation_id)
        _take(conversation, staff, now_utc())
        queue_text(session, conversation, render_template(context.services.engine, "bo_handoff_taken",
                                                          staff_name=staff.display_name), staff_id=staff.id)
        audit.record(session, f"staff:{staff.username}", "conversation.take_over", conversation_id=conversation.id)
        await session.commit()
    wake_outbox(context.services, conversation)
    return redirect(f"{PREFIX}/conversations/{conversation_id}", msg="done_taken_over")


async def reply(request: web.Request) -> web.Response:
    context = bo(request)
    staff = current_staff(request)
    conversation_id = path_int(request, "conversation_id")
    data = await form(request)
    text = data.get("text", "").replace("\x00", "").strip()
    back = f"{PREFIX}/conversations/{conversation_id}"
    if not text:
        return _reply_result(request, back, error="text_required")
    if len(text) > MAX_REPLY:
        return _reply_result(request, back, error="text_too_long")
    async with context.services.db.session() as session:
        conversation = await load_conversation(session, conversation_id)
        if conversation.mode != "staff" or conversation.handoff_staff_id != staff.id:
            _take(conversation, staff, now_utc())
        message = queue_text(session, conversation, text, staff_id=staff.id)
        audit.record(session, f"staff:{staff.username}", "conversation.reply", conversation_id=conversation.id,
                     chars=len(text))
        await session.commit()
        message_id = message.id
    wake_outbox(context.services, conversation)
    return _reply_result(request, back, message_id=message_id)


def _reply_result(request: web.Request, back: str, error: str | None = None,
                  message_id: int | None = None) -> web.Response:
    if request.headers.get("X-Requested-With") == "fetch":
        if error:
            return web.json_response({"error": staff_text(error)}, status=400)
        return web.json_response({"ok": True, "id": message_id})
    return redirect(back, err=error) if error else redirect(back, msg="done_reply_sent")


async def return_to_bot(request: web.Request) -> web.Response:
    context = bo(request)
    staff = current_staff(request)
    conversation_id = path_int(request, "conversation_id")
    async with context.services.db.session() as session:
        conversation = await load_conversation(session, conversation_id)
        conversation.mode = "bot"
        conversation.handoff_staff_id = None
        conversation.handoff_since = None
        queue_text(session, conversation, render_template(context.services.engine, "bo_handoff_returned"),
                   staff_id=staff.id)
        audit.record(session, f"staff:{staff.username}", "conversation.return_to_bot", conversation_id=conversation.id)
        await session.commit()
    wake_outbox(context.services, conversation)
    return redirect(f"{PREFIX}/inbox", msg="done_returned")


async def waiting_count(session: AsyncSession) -> int:
    return int((await session.execute(select(func.count(Conversation.id))
                                      .where(Conversation.mode == "waiting_staff"))).scalar_one())
