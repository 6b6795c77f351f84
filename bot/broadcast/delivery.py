"""Hands one rendered broadcast message to a channel plug-in.

Decision: the fan-out does not create outbox rows. It calls the channel's `send(conversation, message)` with a
transient `Message` (never added to a session; id = -delivery_id so a sender's per-message retry memory never
mixes two recipients). The delivery row is the durable record. Exceptions:
- WhatsApp outside the 24-hour window: the approved template `channels.whatsapp.templates["broadcast"]`
  (its variables may use {text}, {name}, {office_name}); without it the delivery fails as undeliverable.
- Pull channels (web chat): an outbound Message row (sender="broadcast") is stored; the browser fetches it.
"""
from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from bot.core.channel import ChannelPlugin, SendResult
from storage.db import Database
from storage.models import Conversation, Message

log = logging.getLogger(__name__)

BROADCAST_TEMPLATE = "broadcast"


def transient_message(delivery_id: int, conversation: Conversation, text: str,
                      attachments: list[dict[str, Any]]) -> Message:
    return Message(id=-delivery_id, conversation_id=conversation.id, channel=conversation.channel, direction="out",
                   text=text, attachments=attachments, choices=[], status="sending", sender="broadcast", attempts=0)


async def send_one(db: Database, channel: ChannelPlugin, conversation: Conversation, message: Message) -> SendResult:
    """One attempt; never raises (an unexpected exception is a transient failure)."""
    try:
        if not channel.push:
            return await _store_for_pull(db, conversation, message)
        if conversation.channel == "whatsapp" and _outside_window(channel, conversation):
            return await _whatsapp_template(channel, conversation, message)
        return await channel.send(conversation, message)
    except Exception as exc:  # noqa: BLE001 - a bug or library error: retried with back-off
        log.exception("broadcast send raised channel=%s", conversation.channel)
        return SendResult(ok=False, error=f"exception: {type(exc).__name__}")


def _outside_window(channel: Any, conversation: Conversation) -> bool:
    sender = getattr(channel, "sender", None)
    in_window = getattr(sender, "in_window", None)
    return in_window is not None and not in_window(conversation)


async def _whatsapp_template(channel: Any, conversation: Conversation, message: Message) -> SendResult:
    result: SendResult = await channel.sender.send_template(conversation, message, BROADCAST_TEMPLATE)
    if result.undeliverable:
        return replace(result, error="outside the 24-hour window and no 'broadcast' WhatsApp template configured")
    return result


async def _store_for_pull(db: Database, conversation: Conversation, message: Message) -> SendResult:
    async with db.session() as session:
        row = Message(conversation_id=conversation.id, channel=conversation.channel, direction="out",
                      text=message.text, attachments=list(message.attachments or []), choices=[],
                      status="pending", sender="broadcast")
        session.add(row)
        await session.commit()
        return SendResult(ok=True, provider_message_id=f"message:{row.id}")


TEST_ID_OFFSET = 10**12


async def test_send(db: Database, channels: dict[str, ChannelPlugin], conversation: Conversation,
                    broadcast: Any) -> SendResult:
    """Send a broadcast once to a staff member's own chat, marked as a test, filled with that chat's data."""
    from bot.broadcast.render import Recipient, render
    from bot.broadcast.service import recipient_of

    channel = channels.get(conversation.channel)
    if channel is None:
        return SendResult(ok=False, permanent=True, error=f"channel {conversation.channel} not enabled")
    async with db.session() as session:
        recipient = await recipient_of(session, conversation.id)
    recipient = recipient or Recipient(conversation.id, conversation.channel, conversation.channel_user_id)
    attachments = [broadcast.attachment] if broadcast.attachment else []
    message = transient_message(TEST_ID_OFFSET + broadcast.id, conversation, render(broadcast.text, recipient, test=True),
                                attachments)
    return await send_one(db, channel, conversation, message)
