"""Outbound messages that need a person: sends interrupted by a crash (`maybe_sent`: the pilgrim may or may
not have received them) and failed sends. Staff look at the conversation and choose to send again."""
from __future__ import annotations

from aiohttp import web
from sqlalchemy import select

from bot.core import outbox
from bot.backoffice import audit
from bot.backoffice.web_common import bo, current_staff, path_int, redirect, render
from storage.models import Conversation, Message

PAGE = 200
STATES = (outbox.MAYBE_SENT, "failed")


async def outbox_page(request: web.Request) -> web.Response:
    async with bo(request).services.db.session() as session:
        rows = (await session.execute(
            select(Message, Conversation).join(Conversation, Conversation.id == Message.conversation_id)
            .where(Message.direction == "out", Message.status.in_(STATES))
            .order_by(Message.status.desc(), Message.id.desc()).limit(PAGE))).all()
    return render(request, "outbox.jinja2", {"rows": rows, "maybe_sent": outbox.MAYBE_SENT})


async def outbox_resend(request: web.Request) -> web.Response:
    """Queue one message again (the person decided a duplicate is better than a missed message)."""
    context = bo(request)
    message_id = path_int(request, "message_id")
    queued = await outbox.resend(context.services.db, message_id)
    async with context.services.db.session() as session:
        row = await session.get(Message, message_id)
        if queued and row is not None:
            audit.record(session, f"staff:{current_staff(request).username}", "message.resend",
                         conversation_id=row.conversation_id, message_id=message_id)
            await session.commit()
            context.services.outbox.notify(row.channel)
    return redirect("/backoffice/outbox", msg="done_resend_queued" if queued else None,
                    err=None if queued else "resend_not_possible")
