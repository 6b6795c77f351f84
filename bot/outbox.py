"""Outbox worker: sends stored outbound messages through push channels, in order per conversation,
with retries and back-off. A claimed message carries a lease (next_attempt_at) so a crashed worker's
message is picked up again by another."""
from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.channels.base import ChannelPlugin, SendResult
from storage.db import Database
from storage.models import Conversation, Message

log = logging.getLogger(__name__)

LEASE_SECONDS = 120
BASE_BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 300.0


def backoff_seconds(attempt: int) -> float:
    """Exponential back-off with jitter for the n-th failed attempt (1-based)."""
    base = min(MAX_BACKOFF_SECONDS, BASE_BACKOFF_SECONDS * (2 ** (attempt - 1)))
    return base * random.uniform(0.8, 1.2)


class Outbox:
    def __init__(self, db: Database, channels: dict[str, ChannelPlugin], max_attempts: int = 8,
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc), batch: int = 200) -> None:
        self.db = db
        self.channels = {name: c for name, c in channels.items() if c.push}
        self.max_attempts = max_attempts
        self.clock = clock
        self.batch = batch
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def notify(self, channel: str) -> None:
        if channel in self.channels:
            self._wake.set()

    def start(self) -> None:
        if self.channels and self._task is None:
            self._task = asyncio.create_task(self._run(), name="outbox")

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def _run(self) -> None:
        while not self._stopping:
            try:
                sent = await self.send_due()
            except Exception:
                log.exception("outbox pass failed")
                sent = 0
            if sent == 0:
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=1.0)
                except asyncio.TimeoutError:
                    pass
                self._wake.clear()

    async def send_due(self) -> int:
        """One pass: claim the next message of each conversation that is due, send them concurrently."""
        claimed = await self._claim()
        if not claimed:
            return 0
        await asyncio.gather(*(self._deliver(conv, msg) for conv, msg in claimed))
        return len(claimed)

    async def _claim(self) -> list[tuple[Conversation, Message]]:
        now = self.clock()
        due = or_(Message.next_attempt_at.is_(None), Message.next_attempt_at <= now)
        async with self.db.session() as session:
            rows = (await session.execute(
                select(Message).where(Message.direction == "out", Message.channel.in_(list(self.channels)),
                                      or_(and_(Message.status == "pending", due),
                                          and_(Message.status == "sending", Message.next_attempt_at <= now)))
                .order_by(Message.id).limit(self.batch)
            )).scalars().all()
            first_per_conversation: dict[int, Message] = {}
            for row in rows:
                first_per_conversation.setdefault(row.conversation_id, row)
            claimed: list[tuple[int, int]] = []
            for message in first_per_conversation.values():
                if await self._has_earlier_unsent(session, message):
                    continue
                result = await session.execute(
                    update(Message).where(Message.id == message.id, Message.status == message.status,
                                          Message.attempts == message.attempts)
                    .values(status="sending", attempts=Message.attempts + 1,
                            next_attempt_at=now + timedelta(seconds=LEASE_SECONDS))
                )
                if result.rowcount == 1:
                    claimed.append((message.conversation_id, message.id))
            await session.commit()
            out: list[tuple[Conversation, Message]] = []
            for conversation_id, message_id in claimed:
                conversation = await session.get(Conversation, conversation_id)
                message = await session.get(Message, message_id, populate_existing=True)
                assert conversation is not None and message is not None
                out.append((conversation, message))
            return out

    async def _has_earlier_unsent(self, session: AsyncSession, message: Message) -> bool:
        earlier = await session.execute(
            select(Message.id).where(Message.conversation_id == message.conversation_id,
                                     Message.direction == "out", Message.id < message.id,
                                     Message.status.in_(("pending", "sending"))).limit(1))
        return earlier.first() is not None

    async def _deliver(self, conversation: Conversation, message: Message) -> None:
        channel = self.channels[message.channel]
        try:
            result = await channel.send(conversation, message)
        except Exception as exc:  # a bug or an unexpected library error: retry with back-off
            log.exception("send raised channel=%s message=%s", message.channel, message.id)
            result = SendResult(ok=False, error=type(exc).__name__)
        await self._record(conversation, message, result)

    async def _record(self, conversation: Conversation, message: Message, result: SendResult) -> None:
        now = self.clock()
        values: dict[str, object]
        if result.ok:
            values = {"status": "sent", "sent_at": now, "error": None, "next_attempt_at": None,
                      "channel_message_id": result.provider_message_id}
        elif result.undeliverable:
            values = {"status": "undeliverable", "error": result.error, "next_attempt_at": None}
        elif result.permanent or message.attempts >= self.max_attempts:
            values = {"status": "failed", "error": (result.error or "failed")[:500], "next_attempt_at": None}
            log.warning("outbound failed channel=%s message=%s error=%s", message.channel, message.id,
                        result.error)
        else:
            delay = result.retry_after if result.retry_after is not None else backoff_seconds(message.attempts)
            values = {"status": "pending", "error": (result.error or "")[:500],
                      "next_attempt_at": now + timedelta(seconds=delay)}
        async with self.db.session() as session:
            await session.execute(update(Message).where(Message.id == message.id).values(**values))
            if result.permanent:
                await session.execute(update(Conversation).where(Conversation.id == conversation.id)
                                      .values(blocked=True))
            await session.commit()
