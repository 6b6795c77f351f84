"""Outbox worker: sends stored outbound messages through push channels.

- In order per conversation: only the oldest unsent outbound message of a conversation is ever claimed.
- Exactly once: claiming commits status `sending`, `attempted_at` and a lease (next_attempt_at) BEFORE the
  API call. A row still `sending` after its lease belongs to a worker that died mid-send: the platform may
  or may not have delivered it, so it is NOT sent again but becomes `maybe_sent` (as broadcasts do, see
  bot/broadcast/worker.py); staff see it in the back office (/backoffice/outbox, the conversation page) and
  choose to resend (`resend`). A slow send that finishes after its lease still records its result.
- Rate limits per channel (e.g. Telegram 30/s overall and 1/s per chat; WhatsApp per-sender MPS): a channel
  plug-in lists them in its `rate_limits` attribute; a message over the limit simply waits.
- Failures: retry with exponential back-off, or after the `retry_after` the platform asked for (429); a
  permanent failure or the last allowed attempt ends as `failed` with the reason. A permanent failure whose
  error starts with "blocked" (user blocked the bot, invalid number) also marks the conversation blocked;
  messages to a blocked conversation fail without being sent until the user writes again (`mark_reachable`).
- Time comes from an injectable clock, so tests drive it without sleeping.

The limiter and the back-off stay ours (aiolimiter and tenacity were compared): the claimer must ask "how long
until this chat may get a message" without waiting, skip that conversation and wake when the earliest one may
go, at a time from the injected clock, and broadcasts share the same budget (`limit_keys`); aiolimiter only
waits inside `acquire()` on the event loop's clock. A retry here is a row with `next_attempt_at` that outlives
the process, not a loop around a call, which is what tenacity drives.
"""
from __future__ import annotations

import asyncio
import heapq
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import and_, func, or_, select, update

from bot.core.channel import ChannelPlugin, SendResult
from bot.core.background import BackgroundLoop
from storage.db import Database
from storage.models import Conversation, Message

log = logging.getLogger(__name__)

LEASE_SECONDS = 120
BASE_BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 300.0
# an idle outbox is woken by `notify` (a reply stored in this process) or its own retry/rate-limit times; this
# slower look is for rows of other processes (another server died mid-way, CLI tools) and expired leases
IDLE_WAIT_SECONDS = 5.0
BLOCKED_PREFIX = "blocked"
MAYBE_SENT = "maybe_sent"
INTERRUPTED = "interrupted: the worker stopped during this send; it may or may not have arrived"


def backoff_seconds(attempt: int) -> float:
    """Exponential back-off with jitter for the n-th failed attempt (1-based)."""
    base = min(MAX_BACKOFF_SECONDS, BASE_BACKOFF_SECONDS * (2 ** (attempt - 1)))
    return base * random.uniform(0.8, 1.2)


def is_blocking(result: SendResult) -> bool:
    """A permanent failure that means the user cannot be reached at all (blocked the bot, bad number)."""
    return result.permanent and (result.error or "").startswith(BLOCKED_PREFIX)


@dataclass(frozen=True)
class RateLimit:
    """At most `per_second` messages per second (bursts of `burst`), for the channel or for each chat."""

    per_second: float
    burst: int = 1
    per_chat: bool = False


class RateLimiter:
    """Generic cell rate algorithm: one 'theoretical arrival time' per key; no sleeping, no tasks.
    Keys are (channel, chat or "*", index of the limit); see `Outbox._limit_keys`."""

    def __init__(self) -> None:
        self._tat: dict[tuple[str, str, int], float] = {}

    def wait(self, keys: list[tuple[tuple[str, str, int], RateLimit]], now: float) -> float:
        """Seconds until all keys allow one more message (0: allowed now)."""
        waits = [0.0]
        for key, limit in keys:
            interval = 1.0 / limit.per_second
            tat = max(self._tat.get(key, now), now)
            waits.append(tat - interval * (limit.burst - 1) - now)
        return max(waits)

    def take(self, keys: list[tuple[tuple[str, str, int], RateLimit]], now: float) -> None:
        for key, limit in keys:
            self._tat[key] = max(self._tat.get(key, now), now) + 1.0 / limit.per_second

    def prune(self, now: float) -> None:
        """Forget keys that are idle (keeps the per-chat table small)."""
        self._tat = {k: t for k, t in self._tat.items() if t > now}


REQUEUE_UNDELIVERABLE_DAYS = 7


def limit_keys(channel: str, limits: tuple[RateLimit, ...], chat: str) -> list[tuple[tuple[str, str, int], RateLimit]]:
    """The limiter keys one message to `chat` uses. Other senders on a channel (e.g. broadcasts) share the
    channel's budget with: `keys = limit_keys(name, plugin.rate_limits, chat)`, then
    `plugin.limiter.wait(keys, now)` / `plugin.limiter.take(keys, now)`."""
    return [((channel, chat if limit.per_chat else "*", i), limit) for i, limit in enumerate(limits)]


async def resend(db: Database, message_id: int) -> bool:
    """Staff chose to send a `maybe_sent` or `failed` outbound message again: it is queued as new.
    False when the message is not in one of those states (already resent, sent meanwhile)."""
    async with db.session() as session:
        result = await session.execute(update(Message).where(
            Message.id == message_id, Message.direction == "out", Message.status.in_((MAYBE_SENT, "failed"))
        ).values(status="pending", attempts=0, next_attempt_at=None, error=None))
        await session.commit()
    return result.rowcount == 1


async def mark_reachable(db: Database, conversation_id: int, now: datetime | None = None) -> None:
    """The user wrote again: clear `blocked` and queue messages of the last week that were undeliverable
    (e.g. outside the WhatsApp 24-hour window) once more. Channels call this after storing an inbound message."""
    since = (now or datetime.now(timezone.utc)) - timedelta(days=REQUEUE_UNDELIVERABLE_DAYS)
    async with db.session() as session:
        await session.execute(update(Conversation).where(Conversation.id == conversation_id,
                                                         Conversation.blocked.is_(True)).values(blocked=False))
        await session.execute(update(Message).where(
            Message.conversation_id == conversation_id, Message.direction == "out",
            Message.status == "undeliverable", Message.created_at >= since,
        ).values(status="pending", attempts=0, next_attempt_at=None))
        await session.commit()


class Outbox:
    def __init__(self, db: Database, channels: dict[str, ChannelPlugin], max_attempts: int = 8,
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc), batch: int = 200) -> None:
        self.db = db
        self.channels = {name: c for name, c in channels.items() if c.push}
        self.max_attempts = max_attempts
        self.clock = clock
        self.batch = batch
        # a channel's own limiter (if it has one) is shared with other senders, e.g. broadcasts
        self.limiters: dict[str, RateLimiter] = {
            name: getattr(c, "limiter", None) or RateLimiter() for name, c in self.channels.items()}
        self.limits: dict[str, tuple[RateLimit, ...]] = {
            name: tuple(getattr(c, "rate_limits", ())) for name, c in self.channels.items()}
        self.next_wake: float | None = None  # seconds until a rate-limited message may go (last pass)
        self._retries: list[float] = []  # heap: event-loop times of retries this process scheduled
        self._loop = BackgroundLoop("outbox", log, self._pass, self._idle_seconds)
        self._passes = 0
        self._interrupted_checked_at: datetime | None = None

    def notify(self, channel: str) -> None:
        if channel in self.channels:
            self._loop.wake()

    def start(self) -> None:
        if self.channels:
            self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    async def _pass(self) -> bool:
        return await self.send_due() > 0

    def _idle_seconds(self) -> float:
        waits = [IDLE_WAIT_SECONDS]
        if self.next_wake is not None:
            waits.append(self.next_wake)
        if self._retries:
            waits.append(self._retries[0] - asyncio.get_running_loop().time())
        return max(min(waits), 0.01)

    async def send_due(self) -> int:
        """One pass: claim the next due message of each conversation (within the rate limits) and send
        them concurrently. Returns how many were attempted."""
        claimed = await self._claim()
        if not claimed:
            return 0
        await asyncio.gather(*(self._deliver(conv, msg) for conv, msg in claimed))
        return len(claimed)

    async def drain(self, max_passes: int = 1000) -> int:
        """Send until nothing is due now (tests and CLI tools)."""
        total = 0
        for _ in range(max_passes):
            sent = await self.send_due()
            if sent == 0:
                break
            total += sent
        return total

    # claiming -----------------------------------------------------------------------------------
    async def _claim(self) -> list[tuple[Conversation, Message]]:
        now = self.clock()
        loop_now = asyncio.get_running_loop().time()
        while self._retries and self._retries[0] <= loop_now:  # due: this pass sees them
            heapq.heappop(self._retries)
        now_s = now.timestamp()
        self._passes += 1
        if self._passes % 1000 == 0:
            for limiter in self.limiters.values():
                limiter.prune(now_s)
        self.next_wake = None
        if self._interrupted_checked_at is None or (now - self._interrupted_checked_at).total_seconds() >= 10:
            self._interrupted_checked_at = now
            await self._mark_interrupted(now)
        unsent = (Message.direction == "out") & Message.status.in_(("pending", "sending"))
        oldest = (select(func.min(Message.id).label("id")).where(unsent, Message.channel.in_(list(self.channels)))
                  .group_by(Message.conversation_id).subquery())
        due = and_(Message.status == "pending",
                   or_(Message.next_attempt_at.is_(None), Message.next_attempt_at <= now))
        claimed: list[tuple[int, int]] = []
        async with self.db.session() as session:
            rows = (await session.execute(
                select(Message, Conversation).join(oldest, Message.id == oldest.c.id)
                .join(Conversation, Conversation.id == Message.conversation_id)
                .where(due).order_by(Message.id).limit(self.batch)
            )).all()
            for message, conversation in rows:
                if conversation.blocked:
                    await session.execute(update(Message).where(Message.id == message.id).values(
                        status="failed", error=f"{BLOCKED_PREFIX}: user unreachable", next_attempt_at=None))
                    continue
                keys = self._limit_keys(message.channel, conversation.channel_user_id)
                limiter = self.limiters[message.channel]
                wait = limiter.wait(keys, now_s)
                if wait > 0:
                    self.next_wake = wait if self.next_wake is None else min(self.next_wake, wait)
                    continue
                result = await session.execute(
                    update(Message).where(Message.id == message.id, Message.status == message.status,
                                          Message.attempts == message.attempts)
                    .values(status="sending", attempts=Message.attempts + 1, attempted_at=now,
                            next_attempt_at=now + timedelta(seconds=LEASE_SECONDS)))
                if result.rowcount == 1:
                    limiter.take(keys, now_s)
                    claimed.append((conversation.id, message.id))
            await session.commit()
            out: list[tuple[Conversation, Message]] = []
            for conversation_id, message_id in claimed:
                conversation = await session.get(Conversation, conversation_id)
                message = await session.get(Message, message_id, populate_existing=True)
                assert conversation is not None and message is not None
                out.append((conversation, message))
            return out

    async def _mark_interrupted(self, now: datetime) -> int:
        """Rows left `sending` past their lease (a worker died mid-send) become `maybe_sent`, never resent."""
        async with self.db.session() as session:
            result = await session.execute(update(Message).where(
                Message.direction == "out", Message.status == "sending", Message.next_attempt_at <= now,
                Message.channel.in_(list(self.channels))).values(status=MAYBE_SENT, error=INTERRUPTED,
                                                                 next_attempt_at=None))
            await session.commit()
        if result.rowcount:
            log.warning("outbox: %d interrupted sends marked maybe_sent (not resent; staff decide)", result.rowcount)
        return int(result.rowcount or 0)

    def _limit_keys(self, channel: str, chat: str) -> list[tuple[tuple[str, str, int], RateLimit]]:
        return limit_keys(channel, self.limits.get(channel, ()), chat)

    # sending ------------------------------------------------------------------------------------
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
            values = {"status": "undeliverable", "error": (result.error or "undeliverable")[:500],
                      "next_attempt_at": None}
        elif result.permanent or message.attempts >= self.max_attempts:
            reason = result.error or "failed"
            if not result.permanent:
                reason = f"gave up after {message.attempts} attempts: {reason}"
            values = {"status": "failed", "error": reason[:500], "next_attempt_at": None}
            log.warning("outbound failed channel=%s message=%s error=%s", message.channel, message.id, reason)
        else:
            delay = result.retry_after if result.retry_after is not None else backoff_seconds(message.attempts)
            values = {"status": "pending", "error": (result.error or "")[:500],
                      "next_attempt_at": now + timedelta(seconds=delay)}
            heapq.heappush(self._retries, asyncio.get_running_loop().time() + delay)
        async with self.db.session() as session:
            await session.execute(update(Message).where(Message.id == message.id).values(**values))
            if is_blocking(result):
                await session.execute(update(Conversation).where(Conversation.id == conversation.id)
                                      .values(blocked=True))
            await session.commit()
