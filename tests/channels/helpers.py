"""Database look-ups shared by the channel tests."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
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


class FakeClock:
    """An injectable clock for the outbox: time only moves when a test says so."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime.now(timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


async def queue(services: Any, channel: str, user_id: str, *texts: str, choices: list[str] | None = None,
                attachments: list[dict[str, Any]] | None = None, last_inbound_at: datetime | None = None,
                status: str = "pending") -> list[int]:
    """Store pending outbound messages for one user (creating the conversation), like the pipeline does."""
    async with services.db.session() as session:
        conv = (await session.execute(select(Conversation).where(
            Conversation.channel == channel, Conversation.channel_user_id == user_id))).scalar_one_or_none()
        if conv is None:
            conv = Conversation(channel=channel, channel_user_id=user_id, state={}, display_name="Siti",
                                last_inbound_at=last_inbound_at or datetime.now(timezone.utc))
            session.add(conv)
            await session.flush()
        rows = [Message(conversation_id=conv.id, channel=channel, direction="out", text=text,
                        choices=list(choices or []), attachments=list(attachments or []), status=status,
                        sender="bot") for text in texts]
        session.add_all(rows)
        await session.commit()
        return [row.id for row in rows]


async def message(services: Any, message_id: int) -> Message:
    async with services.db.session() as session:
        row = await session.get(Message, message_id)
        assert row is not None
        return row
