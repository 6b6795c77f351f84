"""Database look-ups shared by the channel tests."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from storage.models import Conversation, Message


async def messages(services: Any, channel: str, direction: str | None = None) -> list[Message]:
    async with services.db.session() as session:
        query = select(Message).where(Message.channel == channel).order_by(Message.id)
        if direction:
            query = query.where(Message.direction == direction)
        return list((await session.execute(query)).scalars().all())


async def conversation(services: Any, channel: str, user_id: str) -> Conversation | None:
    async with services.db.session() as session:
        return (await session.execute(select(Conversation).where(
            Conversation.channel == channel, Conversation.channel_user_id == user_id))).scalar_one_or_none()
