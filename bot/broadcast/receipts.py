"""Delivery reports for broadcast messages: WhatsApp status callbacks (delivered, read, failed/undelivered)
move a delivery row past `sent`. Telegram has no receipts, so its rows stay `sent`.

The WhatsApp channel records reports on outbox messages only; `watch_whatsapp_receipts` wraps its public
`apply_status` so reports for broadcast sends (which have no outbox row) land here too. A one-line call from
the channel's own `apply_status` would replace the wrapper."""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select, update

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


def watch_whatsapp_receipts(channel: Any, db: Database) -> None:
    """Also route the WhatsApp channel's status reports to broadcast deliveries."""
    original = getattr(channel, "apply_status", None)
    if original is None or getattr(original, "_broadcast_receipts", False):
        return
    try:
        from bot.channels.whatsapp_twilio import UNREACHABLE_CODES

        unreachable = frozenset(UNREACHABLE_CODES)
    except ImportError:  # pragma: no cover
        unreachable = frozenset()

    async def apply_status(sid: str, status: str, code: str = "") -> None:
        await original(sid, status, code)
        try:
            await apply_receipt(db, "whatsapp", sid, status, code, unreachable)
        except Exception:  # a report must never break the webhook
            log.exception("broadcast receipt failed")

    apply_status._broadcast_receipts = True  # type: ignore[attr-defined]
    channel.apply_status = apply_status
