"""The fan-out worker: turns running broadcasts into sends, within each channel's rate limit.

One pass (`step`) per running broadcast:
1. audience: create the next batch of delivery rows (see audience.materialize_batch);
2. recover rows whose lease ran out (a worker died mid-send): sent again or marked failed 'interrupted',
   depending on `broadcast.resend_interrupted`;
3. claim: `pending → sending` with a lease, in one UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED)
   RETURNING, as many per channel as its token bucket allows (so several worker processes share a broadcast on
   PostgreSQL; SQLite serialises writers, so the same statement is safe there);
4. right before sending, re-check each recipient: blocked, opted out (also a STOP/BERHENTI typed a moment
   ago) → `skipped`;
5. send concurrently through the channel plug-ins, then record every result in one transaction:
   sent | pending again after retry_after (429, the channel is held) or back-off | failed (permanent — a
   'blocked' error also marks the conversation blocked, so the next broadcast skips it — or attempts used up).
A graceful stop finishes the sends in flight and records them, so a restart neither repeats nor skips anyone.
Time comes from an injectable clock; tests call `step()` and never sleep.
"""
from __future__ import annotations

import asyncio
import logging
import os
import random
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import bindparam, case, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.background import BackgroundLoop
from bot.broadcast.audience import Segment, materialize_batch
from bot.broadcast.delivery import send_one, transient_message
from bot.broadcast import tier
from bot.broadcast.limiter import ChannelLimiter
from bot.core.optout import keyword_optouts
from bot.broadcast.planner import Limits
from bot.broadcast.render import Recipient, render
from bot.broadcast.settings import BroadcastSettings, ChannelRate
from bot.core.channel import ChannelPlugin, SendResult
from bot.core.outbox import BLOCKED_PREFIX, is_blocking
from storage.broadcast_models import Broadcast, BroadcastDelivery, BroadcastOptout
from storage.db import Database
from storage.models import Conversation, Pilgrim
from storage.optouts import record_optout

log = logging.getLogger(__name__)

D = BroadcastDelivery.__table__
BASE_BACKOFF = 2.0
MAX_BACKOFF = 300.0
INTERRUPTED = "interrupted: the worker stopped during this send; it may or may not have arrived"


def backoff(attempt: int) -> float:
    return min(MAX_BACKOFF, BASE_BACKOFF * 2 ** max(0, attempt - 1)) * random.uniform(0.8, 1.2)


@dataclass(frozen=True)
class Claimed:
    id: int
    conversation_id: int
    channel: str
    attempts: int


@dataclass
class Target:
    claimed: Claimed
    conversation: Conversation
    recipient: Recipient


class BroadcastWorker:
    def __init__(self, db: Database, channels: dict[str, ChannelPlugin], settings: BroadcastSettings,
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
                 worker_id: str | None = None, limits: Limits | None = None) -> None:
        self.db = db
        self.channels = dict(channels)
        self.settings = settings
        self.clock = clock
        self.worker_id = worker_id or f"{socket.gethostname()[:30]}:{os.getpid()}:{secrets.token_hex(3)}"
        self.limits = limits or Limits({name: rate.per_second for name, rate in settings.rates.items()})
        self.limiter = ChannelLimiter(capped_rates(settings.rates, self.limits))
        self.sent_total = 0  # successful sends by this worker (bench, CLI)
        self._recovered_at: dict[int, float] = {}
        self._content: dict[int, tuple[str, list[dict[str, Any]]]] = {}
        self._nothing_to_do = False  # the last pass saw no running or scheduled broadcast
        self._loop = BackgroundLoop("broadcast worker", log, self._pass, self._idle_seconds)

    # lifecycle ----------------------------------------------------------------------------------
    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        """Finish the sends in flight, record them, and stop."""
        await self._loop.stop()

    def notify(self) -> None:
        """Something changed (a broadcast was scheduled or resumed): look now."""
        self._loop.wake()

    async def run(self, until_idle: bool = False) -> None:
        """Loop until stopped (or, with `until_idle`, until no broadcast is running or scheduled)."""
        await self._loop.run(self.has_work if until_idle else None)

    async def _pass(self) -> bool:
        return bool(await self.step())

    def _idle_seconds(self) -> float:
        now = self.clock().timestamp()
        waits = [self.limiter.wait(name, now) for name in self.channels]
        positive = [w for w in waits if w > 0]
        poll = self.settings.poll_seconds
        if self._nothing_to_do:
            poll = max(poll, self.settings.idle_poll_seconds)
        return max(0.005, min([poll, *positive]))

    async def has_work(self) -> bool:
        async with self.db.session() as session:
            n = await session.scalar(select(func.count()).select_from(Broadcast)
                                     .where(Broadcast.status.in_(("running", "scheduled"))))
        return bool(n)

    # one pass -----------------------------------------------------------------------------------
    async def step(self) -> int:
        """Activate due scheduled broadcasts, then one pass over each running one. Returns rows handled.
        An idle pass is one read: nothing is written unless a broadcast is running or due."""
        now = self.clock()
        due = or_(Broadcast.scheduled_at.is_(None), Broadcast.scheduled_at <= now)
        async with self.db.session() as session:
            rows = (await session.execute(
                select(Broadcast.id, Broadcast.status, case((due, True), else_=False))
                .where(Broadcast.status.in_(("running", "scheduled"))).order_by(Broadcast.id))).all()
        self._nothing_to_do = not rows
        running = [i for i, status, _ in rows if status == "running"]
        if any(status == "scheduled" and is_due for _, status, is_due in rows):
            running = await self._activate_due(now)
        handled = 0
        for broadcast_id in running:
            if self._loop.stopping:
                break
            handled += await self.step_broadcast(broadcast_id)
        return handled

    async def _activate_due(self, now: datetime) -> list[int]:
        """Start scheduled broadcasts that are due; returns the running ones."""
        async with self.db.session() as session:
            await session.execute(update(Broadcast).where(
                Broadcast.status == "scheduled",
                or_(Broadcast.scheduled_at.is_(None), Broadcast.scheduled_at <= now),
            ).values(status="running", started_at=func.coalesce(Broadcast.started_at, now)))
            await session.commit()
            return list((await session.execute(select(Broadcast.id).where(Broadcast.status == "running")
                                               .order_by(Broadcast.id))).scalars().all())

    async def step_broadcast(self, broadcast_id: int) -> int:
        async with self.db.session() as session:
            broadcast = await session.get(Broadcast, broadcast_id)
            if broadcast is None or broadcast.status != "running":
                return 0
            if broadcast.planned_at is None:
                await tier.start_plan(session, broadcast_id, self.limits, self.clock())
            if not broadcast.audience_done:
                await materialize_batch(session, broadcast_id, self.settings.batch_size, tier.assign_rows)
            await self._recover(session, broadcast_id)
            claimed = await self._claim(session, broadcast_id)
            if not claimed:
                await self._maybe_finish(session, broadcast_id)
                return 0
            body, attachments = await self._content_of(session, broadcast_id)
            targets, skipped = await self._targets(session, claimed)
            await self._skip(session, skipped)
        await self._send_all(targets, body, attachments)
        return len(claimed)

    async def _send_all(self, targets: list[Target], body: str, attachments: list[dict[str, Any]]) -> None:
        """Send concurrently and record the results in small groups as they complete, so that few finished
        sends are ever unrecorded (after a hard kill those would be ambiguous)."""
        async def one(target: Target) -> tuple[Target, SendResult]:
            return target, await self._send(target, body, attachments)

        futures = [asyncio.ensure_future(one(t)) for t in targets]
        finished: list[tuple[Target, SendResult]] = []
        try:
            for next_done in asyncio.as_completed(futures):
                finished.append(await next_done)
                if len(finished) >= self.settings.record_every:
                    await self._record(finished)
                    finished = []
        finally:
            for future in futures:
                future.cancel()
            if finished:
                await self._record(finished)

    # claiming -----------------------------------------------------------------------------------
    async def _claim(self, session: AsyncSession, broadcast_id: int) -> list[Claimed]:
        now = self.clock()
        now_s = now.timestamp()
        lease = now + timedelta(seconds=self.settings.lease_seconds)
        room = self.settings.max_in_flight
        out: list[Claimed] = []
        has_attachment = bool((await self._content_of(session, broadcast_id))[1])
        for channel in self.channels:
            cost = 2 if has_attachment and channel == "telegram" else 1
            cap = min(room, self.settings.max_in_flight_per_channel)
            n = self.limiter.available(channel, now_s, cap * cost) // cost
            if n <= 0:
                continue
            due = (select(BroadcastDelivery.id).where(
                BroadcastDelivery.broadcast_id == broadcast_id, BroadcastDelivery.channel == channel,
                BroadcastDelivery.status == "pending",
                or_(BroadcastDelivery.next_attempt_at.is_(None), BroadcastDelivery.next_attempt_at <= now))
                .order_by(BroadcastDelivery.id).limit(n).with_for_update(skip_locked=True))
            rows = (await session.execute(
                update(BroadcastDelivery).where(BroadcastDelivery.id.in_(due.scalar_subquery()))
                .values(status="sending", attempts=BroadcastDelivery.attempts + 1, next_attempt_at=lease,
                        worker=self.worker_id, updated_at=now)
                .returning(BroadcastDelivery.id, BroadcastDelivery.conversation_id, BroadcastDelivery.attempts)
                .execution_options(synchronize_session=False))).all()
            await session.commit()
            if rows:
                self.limiter.take(channel, len(rows) * cost, now_s)
                out += [Claimed(r[0], r[1], channel, r[2]) for r in sorted(rows)]
                room -= len(rows)
            if room <= 0:
                break
        return out

    async def _recover(self, session: AsyncSession, broadcast_id: int) -> None:
        """Rows left in `sending` by a worker that died (lease over)."""
        now = self.clock()
        last = self._recovered_at.get(broadcast_id)
        if last is not None and now.timestamp() - last < min(5.0, self.settings.lease_seconds / 4):
            return
        self._recovered_at[broadcast_id] = now.timestamp()
        values: dict[str, Any] = ({"status": "pending", "next_attempt_at": None} if self.settings.resend_interrupted
                                  else {"status": "failed", "error": INTERRUPTED, "next_attempt_at": None})
        result = await session.execute(update(BroadcastDelivery).where(
            BroadcastDelivery.broadcast_id == broadcast_id, BroadcastDelivery.status == "sending",
            BroadcastDelivery.next_attempt_at < now).values(worker=None, updated_at=now, **values)
            .execution_options(synchronize_session=False))
        await session.commit()
        if result.rowcount:
            log.warning("broadcast %s: %s interrupted sends %s", broadcast_id, result.rowcount,
                        "queued again" if self.settings.resend_interrupted else "marked failed")

    async def _maybe_finish(self, session: AsyncSession, broadcast_id: int) -> None:
        broadcast = await session.get(Broadcast, broadcast_id, populate_existing=True)
        if broadcast is None or not broadcast.audience_done or broadcast.status != "running":
            return
        now = self.clock()
        await session.execute(update(BroadcastDelivery).where(
            BroadcastDelivery.broadcast_id == broadcast_id, BroadcastDelivery.status == "pending",
            BroadcastDelivery.channel.not_in(list(self.channels)))
            .values(status="failed", error="channel not enabled", updated_at=now)
            .execution_options(synchronize_session=False))
        left = await session.scalar(select(func.count()).select_from(BroadcastDelivery).where(
            BroadcastDelivery.broadcast_id == broadcast_id, BroadcastDelivery.status.in_(("pending", "sending"))))
        if not left:
            await session.execute(update(Broadcast).where(Broadcast.id == broadcast_id, Broadcast.status == "running")
                                  .values(status="completed", finished_at=now))
            log.info("broadcast %s completed", broadcast_id)
        await session.commit()

    async def _content_of(self, session: AsyncSession, broadcast_id: int) -> tuple[str, list[dict[str, Any]]]:
        if broadcast_id not in self._content:
            broadcast = await session.get(Broadcast, broadcast_id)
            assert broadcast is not None
            attachments = [broadcast.attachment] if broadcast.attachment else []
            self._content[broadcast_id] = (broadcast.text, attachments)
        return self._content[broadcast_id]

    # recipients ---------------------------------------------------------------------------------
    async def _targets(self, session: AsyncSession, claimed: list[Claimed]
                       ) -> tuple[list[Target], list[tuple[Claimed, str]]]:
        ids = [c.conversation_id for c in claimed]
        rows = (await session.execute(
            select(Conversation, Pilgrim.nama, Pilgrim.estimasi_tahun, Pilgrim.nomor_porsi, BroadcastOptout.at)
            .outerjoin(Pilgrim, Pilgrim.id == Conversation.pilgrim_id)
            .outerjoin(BroadcastOptout, BroadcastOptout.conversation_id == Conversation.id)
            .where(Conversation.id.in_(ids)))).all()
        by_id = {row[0].id: row for row in rows}
        keywords = await keyword_optouts(session, ids)
        for conversation_id, keyword in keywords.items():
            await record_optout(session, conversation_id, f"keyword:{keyword}", self.clock())
        if keywords:
            await session.commit()
        targets: list[Target] = []
        skipped: list[tuple[Claimed, str]] = []
        for c in claimed:
            row = by_id.get(c.conversation_id)
            if row is None:
                skipped.append((c, "conversation deleted"))
                continue
            conv, nama, estimasi, porsi, optout_at = row
            reason = self._skip_reason(conv, optout_at, c.conversation_id in keywords)
            if reason:
                skipped.append((c, reason))
                continue
            targets.append(Target(c, conv, Recipient(conv.id, conv.channel, conv.channel_user_id, conv.display_name,
                                                     nama, estimasi, porsi)))
        return targets, skipped

    @staticmethod
    def _skip_reason(conv: Conversation, optout_at: datetime | None, keyword: bool) -> str | None:
        if conv.blocked:
            return f"{BLOCKED_PREFIX}: user unreachable"
        if keyword or (optout_at is not None and (conv.subscribed_at is None or optout_at > conv.subscribed_at)):
            return "opted out"
        if not conv.subscribed and conv.subscribed_at is not None:
            return "opted out"
        return None

    async def _skip(self, session: AsyncSession, skipped: list[tuple[Claimed, str]]) -> None:
        if not skipped:
            return
        now = self.clock()
        await session.execute(update(D).where(D.c.id == bindparam("b_id"), D.c.status == "sending")
                              .values(status="skipped", error=bindparam("b_error"), next_attempt_at=None,
                                      updated_at=now),
                              [{"b_id": c.id, "b_error": reason} for c, reason in skipped])
        await session.commit()

    # sending and recording ----------------------------------------------------------------------
    async def _send(self, target: Target, body: str, attachments: list[dict[str, Any]]) -> SendResult:
        channel = self.channels[target.claimed.channel]
        message = transient_message(target.claimed.id, target.conversation, render(body, target.recipient),
                                    attachments)
        return await send_one(self.db, channel, target.conversation, message)

    async def _record(self, outcomes: list[tuple[Target, SendResult]]) -> None:
        if not outcomes:
            return
        now = self.clock()
        params: list[dict[str, Any]] = []
        blocked: list[int] = []
        for target, result in outcomes:
            params.append(self._outcome(target.claimed, result, now))
            if is_blocking(result):
                blocked.append(target.conversation.id)
            if result.retry_after is not None:
                self.limiter.hold(target.claimed.channel, now.timestamp() + result.retry_after, now.timestamp())
        stmt = (update(D).where(D.c.id == bindparam("b_id"), D.c.status == "sending", D.c.worker == self.worker_id)
                .values(status=bindparam("b_status"), error=bindparam("b_error"),
                        next_attempt_at=bindparam("b_next"), provider_message_id=bindparam("b_pid"),
                        sent_at=bindparam("b_sent"), attempts=bindparam("b_attempts"), updated_at=now))
        async with self.db.session() as session:
            await session.execute(stmt, params)
            if blocked:
                await session.execute(update(Conversation).where(Conversation.id.in_(blocked)).values(blocked=True)
                                      .execution_options(synchronize_session=False))
            await session.commit()
        self.sent_total += sum(1 for p in params if p["b_status"] == "sent")

    def _outcome(self, claimed: Claimed, result: SendResult, now: datetime) -> dict[str, Any]:
        p: dict[str, Any] = {"b_id": claimed.id, "b_status": "sent", "b_error": None, "b_next": None,
                             "b_pid": None, "b_sent": None, "b_attempts": claimed.attempts}
        if result.ok:
            p.update(b_pid=result.provider_message_id, b_sent=now)
        elif result.undeliverable or result.permanent:
            p.update(b_status="failed", b_error=(result.error or "failed")[:500])
        elif result.retry_after is not None:  # 429: wait as asked; does not use up an attempt
            p.update(b_status="pending", b_error=(result.error or "429")[:500], b_attempts=claimed.attempts - 1,
                     b_next=now + timedelta(seconds=result.retry_after))
        elif claimed.attempts >= self.settings.max_attempts:
            p.update(b_status="failed",
                     b_error=f"gave up after {claimed.attempts} attempts: {result.error or 'failed'}"[:500])
        else:
            p.update(b_status="pending", b_error=(result.error or "")[:500],
                     b_next=now + timedelta(seconds=backoff(claimed.attempts)))
        return p


def capped_rates(rates: dict[str, ChannelRate], limits: Limits) -> dict[str, ChannelRate]:
    """The broadcast's token buckets, none faster than the planner's rate for the channel."""
    out = dict(rates)
    for name, cap in limits.rates.items():
        configured = rates.get(name)
        if cap and (configured is None or configured.per_second > cap):
            out[name] = ChannelRate(per_second=cap, burst=max(1, int(cap)))
    return out


def segment_of(broadcast: Broadcast) -> Segment:
    return Segment.model_validate(broadcast.segment or {})
