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


async def inbox_rows(session: AsyncSession) -> list[dict[str, Any]]:
    conversations = (await session.execute(select(Conversation).where(Conversation.mode.in_(HANDOFF_MODES))
                                           .order_by(Conversation.handoff_since.asc().nulls_last(),
                                                     Conversation.id))).scalars().all()
    names = dict((await session.execute(select(StaffUser.id, StaffUser.display_name))).all())
    rows = []
    for c in conversations:
        last = (await session.execute(select(Message).where(Message.conversation_id == c.id)
                                      .order_by(Message.id.desc()).limit(1))).scalar_one_or_none()
        rows.append({"id": c.id, "channel": c.channel, "name": c.display_name or c.channel_user_id[-6:],
                     "mode": c.mode, "since": _iso(c.handoff_since or c.updated_at),
                     "staff": names.get(c.handoff_staff_id or 0, ""),
                     "last_text": (last.text[:120] if last else ""), "last_id": last.id if last else 0,
                     "last_from_user": bool(last and last.direction == "in")})
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
        "conversation": conversation, "messages": [message_json(m, names, tickets) for m in messages], "cases": cases,
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
