"""Recording that a conversation asked not to receive broadcasts (opt-out)."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.broadcast_models import BroadcastOptout
from storage.models import Conversation


async def record_optout(session: AsyncSession, conversation_id: int, source: str,
                        at: datetime | None = None) -> None:
    """Mark the conversation opted out (not committed): `subscribed` off and an opt-out row newer than its
    last subscribe, so registry-linked pilgrims who never subscribed are left out of broadcasts too."""
    at = at or datetime.now(timezone.utc)
    existing = await session.get(BroadcastOptout, conversation_id)
    if existing is None:
        session.add(BroadcastOptout(conversation_id=conversation_id, at=at, source=source[:40]))
    else:
        existing.at, existing.source = at, source[:40]
    await session.execute(update(Conversation).where(Conversation.id == conversation_id).values(subscribed=False))
