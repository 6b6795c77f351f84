"""Delivery reports for broadcast messages: WhatsApp status callbacks (delivered, read, failed/undelivered)
move a delivery row past `sent`. Telegram has no receipts, so its rows stay `sent`.

The WhatsApp channel records reports on its outbox messages and offers every report to its `status_listeners`;
`whatsapp_receipt_listener` is the broadcast's listener (broadcast sends have no outbox row)."""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import select, update

from bot.channels.twilio_codes import UNREACHABLE_CODES
from storage.broadcast_models import BroadcastDelivery
from storage.db import Database
from storage.models import Conversation

log = logging.getLogger(__name__)

RANK = {"sent": 1, "delivered": 2, "read": 3}


async def apply_receipt(db: Database, channel: str, provider_message_id: str, status: str, code: str = "",
                        unreachable_codes: frozenset[int] = frozenset()) -> bool:
    """Record one report; True when it matched a broadcast delivery."""
    status = status.lower()
    now = datetime.now(timezone.utc)
    async with db.session() as session:
        row = (await session.execute(select(BroadcastDelivery).where(
            BroadcastDelivery.channel == channel, BroadcastDelivery.provider_message_id == provider_message_id)
        )).scalars().first()
        if row is None:
            return False
        if status in RANK:
            if RANK[status] > RANK.get(row.status, 0):
                row.status, row.updated_at = status, now
        elif status in ("failed", "undelivered") and row.status in RANK:
            number = int(code) if code.isdigit() else 0
            row.status, row.updated_at = "failed", now
            row.error = f"{'blocked: ' if number in unreachable_codes else ''}{channel} {status} {code}".strip()[:500]
            if number in unreachable_codes:
                await session.execute(update(Conversation).where(Conversation.id == row.conversation_id)
                                      .values(blocked=True))
        await session.commit()
        return True


def whatsapp_receipt_listener(db: Database) -> Callable[[str, str, str], Awaitable[bool]]:
    """A WhatsApp `status_listeners` entry that records reports on broadcast deliveries."""
    unreachable = frozenset(UNREACHABLE_CODES)

    async def on_status(sid: str, status: str, code: str = "") -> bool:
        return await apply_receipt(db, "whatsapp", sid, status, code, unreachable)

    on_status.broadcast_receipts = True  # type: ignore[attr-defined]  # marks it, so it is added once
    return on_status


def listen_to_whatsapp_receipts(channel: Any, db: Database) -> None:
    """Add the broadcast listener to the WhatsApp channel (once)."""
    listeners = channel.status_listeners
    if not any(getattr(listener, "broadcast_receipts", False) for listener in listeners):
        listeners.append(whatsapp_receipt_listener(db))
