"""Two workers (separate engines and connection pools, as two processes would have) share one broadcast on
PostgreSQL: every recipient exactly once, both workers do part of the work."""
from __future__ import annotations

import asyncio

import pytest

from bot.broadcast import service
from bot.broadcast.audience import Segment
from bot.broadcast.worker import BroadcastWorker
from bot.core.channel import SendResult
from storage.db import Database
from storage.models import Conversation, Message
from tests.broadcast.conftest import FakeChannel, add_chats, fast_settings


class SlowChannel(FakeChannel):
    async def send(self, conversation: Conversation, message: Message) -> SendResult:
        await asyncio.sleep(0.002)
        return await super().send(conversation, message)


@pytest.mark.postgres
async def test_two_workers_share_a_broadcast(db, database_url):
    await add_chats(db, 600)
    async with db.session() as s:
        b = await service.create(s, title="t", text="Info {nama}", segment=Segment(), actor="cli")
        await service.submit(s, b.id, "cli", require_approval=False, admin=True)
    channel = SlowChannel("telegram")
    other_db = Database(database_url)
    try:
        workers = [BroadcastWorker(database, {"telegram": channel}, fast_settings(max_in_flight=20, batch_size=50,
                                                                                   poll_seconds=0.01),
                                   worker_id=f"w{i}")
                   for i, database in enumerate((db, other_db))]
        await asyncio.gather(*(w.run(until_idle=True) for w in workers))
    finally:
        await other_db.dispose()
    per_user = channel.per_user()
    assert len(per_user) == 600 and set(per_user.values()) == {1}
    assert all(w.sent_total > 50 for w in workers), [w.sent_total for w in workers]
    async with db.session() as s:
        p = await service.progress(s, b.id)
    assert p.status == "completed" and p.by_state == {"sent": 600} and p.total == 600
