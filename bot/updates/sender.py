"""Hands confirmed personal updates to the outbox at each channel's configured pace (`updates.rates`), so a
big batch never queues ahead of the chats' own replies. One pass, per channel this service runs:
claim up to the bucket's tokens of `approved` rows (UPDATE ... status='queued' WHERE status='approved'
RETURNING: a row is claimed once, whatever the retries or workers), re-check each chat (opt-out, a STOP typed
a moment ago, blocked, deceased ... → `skipped`), write the outbox message with `sender="update"` (WhatsApp
outside the 24-hour window: the `pilgrim_update` template) and its id on the row, all in one transaction.
Time comes from an injectable clock; tests call `step()`."""
from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.background import BackgroundLoop
from bot.broadcast.limiter import ChannelLimiter
from bot.broadcast.settings import BroadcastSettings
from bot.updates.eligibility import skip_reasons
from bot.updates.service import text_of
from bot.updates.settings import UpdateSettings
from storage.db import Database
from storage.models import Conversation, Message, Pilgrim
from storage.update_models import PilgrimUpdate, RegistryImport

log = logging.getLogger(__name__)

U = PilgrimUpdate.__table__
SENDER = "update"


class UpdateSender:
    def __init__(self, db: Database, engine: Any, channels: list[str], settings: UpdateSettings,
                 exclusions: BroadcastSettings, on_outbound: Callable[[str], None] | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        self.db = db
        self.engine = engine
        self.channels = list(channels)
        self.settings = settings
        self.exclusions = exclusions
        self.on_outbound = on_outbound
        self.clock = clock
        self.limiter = ChannelLimiter(settings.rates)
        self.queued_total = 0
        self._nothing_to_do = False  # the last pass saw no batch being sent
        self._loop = BackgroundLoop("update sender", log, self._pass, self._idle_seconds)

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    def notify(self) -> None:
        """A batch was confirmed: look now."""
        self._loop.wake()

    async def _pass(self) -> bool:
        return bool(await self.step())

    def _idle_seconds(self) -> float:
        now = self.clock().timestamp()
        waits = [w for w in (self.limiter.wait(c, now) for c in self.channels) if w > 0]
        poll = self.settings.poll_seconds
        if self._nothing_to_do:
            poll = max(poll, self.settings.idle_poll_seconds)
        return max(0.05, min([poll, *waits]))

    async def step(self) -> int:
        """One pass over every channel; returns the updates handled (queued or skipped). Updates are only
        `approved` while their batch is `sending`, so an idle pass is that one read."""
        async with self.db.session() as session:
            self._nothing_to_do = (await session.execute(
                select(RegistryImport.id).where(RegistryImport.status == "sending").limit(1))).first() is None
        if self._nothing_to_do:
            return 0
        handled = 0
        for channel in self.channels:
            if self._loop.stopping:
                break
            handled += await self._step_channel(channel)
        await self._finish()
        return handled

    async def _step_channel(self, channel: str) -> int:
        now = self.clock()
        n = self.limiter.available(channel, now.timestamp(), self.settings.batch_size)
        if n <= 0:
            return 0
        async with self.db.session() as session:
            # two statements, not UPDATE ... IN (SELECT ... LIMIT n FOR UPDATE SKIP LOCKED): PostgreSQL may
            # rescan such a subquery per row, and each rescan skips the rows just updated (more than n claimed)
            due = (await session.execute(
                select(PilgrimUpdate.id).where(PilgrimUpdate.status == "approved", PilgrimUpdate.channel == channel)
                .order_by(PilgrimUpdate.id).limit(n).with_for_update(skip_locked=True))).scalars().all()
            if not due:
                await session.rollback()
                return 0
            claimed = (await session.execute(
                update(PilgrimUpdate).where(PilgrimUpdate.id.in_(list(due)), PilgrimUpdate.status == "approved")
                .values(status="queued", updated_at=now).returning(PilgrimUpdate.id)
                .execution_options(synchronize_session=False))).scalars().all()
            if not claimed:
                await session.rollback()
                return 0
            reasons = await skip_reasons(session, list(claimed), self.exclusions, self.channels, now)
            skipped = [{"b_id": i, "b_reason": r} for i, r in reasons.items() if r]
            if skipped:
                await session.execute(update(U).where(U.c.id == bindparam("b_id"))
                                      .values(status="skipped", skip_reason=bindparam("b_reason"), updated_at=now),
                                      skipped)
            sent = await self._queue(session, [i for i, r in reasons.items() if r is None], now)
            await session.commit()
        self.limiter.take(channel, len(claimed), now.timestamp())
        self.queued_total += sent
        if sent and self.on_outbound is not None:
            self.on_outbound(channel)
        return len(claimed)

    async def _queue(self, session: AsyncSession, ids: list[int], now: datetime) -> int:
        """One outbox message per update, its id written back on the update."""
        if not ids:
            return 0
        rows = (await session.execute(
            select(PilgrimUpdate, Conversation.channel, Pilgrim.nama, Pilgrim.nomor_porsi)
            .join(Conversation, Conversation.id == PilgrimUpdate.conversation_id)
            .join(Pilgrim, Pilgrim.id == PilgrimUpdate.pilgrim_id).where(PilgrimUpdate.id.in_(ids))
            .order_by(PilgrimUpdate.id))).all()
        links: list[dict[str, Any]] = []
        for u, channel, nama, porsi in rows:
            message = Message(conversation_id=u.conversation_id, channel=channel, direction="out",
                              text=text_of(self.engine, u, nama, porsi), status="pending", sender=SENDER,
                              created_at=now)
            session.add(message)
            await session.flush()
            links.append({"b_id": u.id, "b_message": message.id})
        await session.execute(update(U).where(U.c.id == bindparam("b_id")).values(message_id=bindparam("b_message")),
                              links)
        return len(links)

    async def _finish(self) -> None:
        """Confirmed batches with nothing left to hand over are done; updates for channels this service does
        not run are skipped then (they would wait for ever)."""
        now = self.clock()
        async with self.db.session() as session:
            sending = (await session.execute(select(RegistryImport.id).where(RegistryImport.status == "sending")
                                             )).scalars().all()
            for import_id in sending:
                left = (await session.execute(
                    select(PilgrimUpdate.channel, func.count()).where(PilgrimUpdate.import_id == import_id,
                                                                      PilgrimUpdate.status == "approved")
                    .group_by(PilgrimUpdate.channel))).all()
                if any(channel in self.channels for channel, _ in left):
                    continue
                if left:
                    await session.execute(update(PilgrimUpdate).where(
                        PilgrimUpdate.import_id == import_id, PilgrimUpdate.status == "approved")
                        .values(status="skipped", skip_reason="channel_off", updated_at=now))
                await session.execute(update(RegistryImport).where(RegistryImport.id == import_id,
                                                                   RegistryImport.status == "sending")
                                      .values(status="done", finished_at=now))
            await session.commit()
