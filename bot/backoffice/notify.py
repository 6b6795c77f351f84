"""Messages to pilgrims from the back office: rendered from templates, queued in the outbox."""
from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from dialogues.replies import Reply
from storage.models import Conversation, Message


def render(engine: Any, key: str, **values: Any) -> str:
    """Render a response template (dialogues/responses/*.yml) through the dialogue engine."""
    if hasattr(engine, "render"):
        return str(engine.render(key, **values))
    return str(engine.responses.text(key, **values))


def queue_text(session: AsyncSession, conversation: Conversation, text: str, sender: str = "staff",
               staff_id: int | None = None) -> Message:
    """Add one outbound message; the caller commits, then calls pipeline.on_outbound(channel)."""
    message = Message(conversation_id=conversation.id, channel=conversation.channel, direction="out", text=text,
                      status="pending", sender=sender, staff_id=staff_id)
    session.add(message)
    return message


def queue_replies(session: AsyncSession, conversation: Conversation, replies: list[Reply],
                  staff_id: int | None = None) -> None:
    """Queue replies produced by the dialogue engine on staff's behalf (sender bot)."""
    for reply in replies:
        session.add(Message(conversation_id=conversation.id, channel=conversation.channel, direction="out",
                            text=reply.text, choices=list(reply.choices), attachments=list(reply.attachments),
                            status="pending", sender="bot", staff_id=staff_id))


def wake_outbox(services: Any, conversation: Conversation | None) -> None:
    if conversation is not None and services.pipeline.on_outbound is not None:
        services.pipeline.on_outbound(conversation.channel)
