"""WhatsApp's messaging tier with the database and the worker on a controllable clock: who counts as already
messaged, the day batches stored on the rows, the worker never sending the next day's batch early (also after
a restart), a pause that does not release several days at once, and two broadcasts sharing one tier."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from bot.broadcast import service, tier
from bot.broadcast.audience import Segment
from bot.broadcast.planner import Limits, Plan
from bot.broadcast.worker import BroadcastWorker
from storage.broadcast_models import Broadcast, BroadcastDelivery
from storage.models import Message
from tests.broadcast.conftest import FakeChannel, add_chats, fast_settings

FAST = {"telegram": 10_000.0, "whatsapp": 10_000.0}


async def start_broadcast(db: Any, segment: Segment | None = None) -> int:
    async with db.session() as s:
        b = await service.create(s, title="Info", text="Halo {nama}", segment=segment or Segment(), actor="cli:a")
        await service.submit(s, b.id, "cli:a", require_approval=False, admin=True)
        return b.id


async def drain(worker: BroadcastWorker, steps: int = 30) -> None:
    for _ in range(steps):
        await worker.step()


async def seed_history(db: Any, now: datetime) -> dict[str, int]:
    """Chats messaged before the broadcast: X got an update outside its window 3 h ago (counts), Z got a reply
    inside its window (does not count), Y (in the audience) got another broadcast outside its window 2 h ago."""
    [x, z] = await add_chats(db, 2, channel="whatsapp", start=900, subscribed=False)
    [y] = await add_chats(db, 1, channel="whatsapp", start=950)
    async with db.session() as s:
        s.add(Message(conversation_id=x, channel="whatsapp", direction="in", text="halo", status="processed",
                      created_at=now - timedelta(hours=40)))
        s.add(Message(conversation_id=x, channel="whatsapp", direction="out", text="Status porsi berubah",
                      status="delivered", sender="bot", created_at=now - timedelta(hours=3),
                      sent_at=now - timedelta(hours=3)))
        s.add(Message(conversation_id=z, channel="whatsapp", direction="in", text="status?", status="processed",
                      created_at=now - timedelta(hours=2)))
        s.add(Message(conversation_id=z, channel="whatsapp", direction="out", text="Status: menunggu",
                      status="sent", sender="bot", created_at=now - timedelta(hours=2),
                      sent_at=now - timedelta(hours=2) + timedelta(seconds=5)))
        old = Broadcast(title="Lama", text="x", segment={}, status="completed", created_by="cli:a")
        s.add(old)
        await s.flush()
        s.add(BroadcastDelivery(broadcast_id=old.id, conversation_id=y, channel="whatsapp", status="delivered",
                                attempts=1, sent_at=now - timedelta(hours=2), tier_day=0))
        await s.commit()
    return {"x": x, "y": y, "z": z}


async def test_used_people_counts_sends_outside_the_window_only(db, clock):
    chats = await seed_history(db, clock())
    async with db.session() as s:
        used = await tier.used_people(s, clock(), 24)
    assert used == {chats["x"], chats["y"]}
    async with db.session() as s:  # the rolling 24 hours let go of X's update, then of Y's broadcast
        assert await tier.used_people(s, clock() + timedelta(hours=21, minutes=1), 24) == {chats["y"]}
        assert await tier.used_people(s, clock() + timedelta(hours=22, minutes=1), 24) == set()


async def test_worker_sends_one_day_batch_per_24_hours_and_keeps_the_plan_after_a_restart(db, clock):
    now = clock()
    chats = await seed_history(db, now)
    await add_chats(db, 10, channel="whatsapp", start=1)  # never wrote: each one a new person for the tier
    await add_chats(db, 2, channel="whatsapp", start=100, last_inbound_at=now - timedelta(hours=1))  # in window
    await add_chats(db, 3, channel="telegram", start=200)
    wa, tg = FakeChannel("whatsapp"), FakeChannel("telegram")
    limits = Limits(FAST, tier=4)
    bid = await start_broadcast(db)
    async with db.session() as s:
        forecast = await tier.forecast(s, await service.get(s, bid), limits, now)
    # 13 WhatsApp recipients: 2 inside the window and Y (already counted) cost nothing; 10 new people;
    # X and Y already used 2 of today's 4
    assert forecast.used == 2 and forecast.tier_left_now == 2
    assert [(b.recipients, b.tier_quota) for b in forecast.batches] == [(3 + 5, 2), (4, 4), (4, 4)]

    worker = BroadcastWorker(db, {"whatsapp": wa, "telegram": tg}, fast_settings(), clock=clock, limits=limits)
    await drain(worker)
    assert len(tg.sends) == 3 and len(wa.sends) == 5
    assert {"u100", "u101", f"u{950}"} <= set(wa.per_user())
    async with db.session() as s:
        b = await service.get(s, bid)
        stored = Plan.from_json(b.plan)
        days = dict((await s.execute(select(BroadcastDelivery.tier_day, func.count()).where(
            BroadcastDelivery.broadcast_id == bid).group_by(BroadcastDelivery.tier_day))).all())
    assert b.status == "running" and b.planned_at == now
    assert [(x.tier_quota, x.assigned) for x in stored.batches] == [(2, 2), (4, 4), (4, 4)]
    assert days == {None: 5, 0: 3, 1: 4, 2: 4}  # Y's row counts on the first day, taking no new place

    clock.advance(23 * 3600)
    await drain(worker)
    assert len(wa.sends) == 5  # day 2's batch waits for its window

    restarted = BroadcastWorker(db, {"whatsapp": wa, "telegram": tg}, fast_settings(), clock=clock, limits=limits)
    clock.advance(3600 + 60)
    await drain(restarted)
    assert len(wa.sends) == 9
    async with db.session() as s:  # the people messaged outside their window in the last 24 hours: the tier
        assert len(await tier.used_people(s, clock(), 24, exclude_broadcast=bid)) == 4
        assert len(await tier.used_people(s, clock(), 24)) == 4 + 4  # with the last day's batch reserved
    clock.advance(24 * 3600)
    await drain(restarted)
    assert len(wa.sends) == 13 and wa.per_user().most_common(1)[0][1] == 1
    async with db.session() as s:
        assert (await service.get(s, bid)).status == "completed"
    assert "u900" not in wa.per_user() and "u901" not in wa.per_user()  # X and Z are not in the audience
    assert chats["y"]


async def test_a_long_pause_does_not_release_several_days_at_once(db, clock):
    await add_chats(db, 9, channel="whatsapp")
    wa = FakeChannel("whatsapp")
    limits = Limits(FAST, tier=3)
    bid = await start_broadcast(db)
    worker = BroadcastWorker(db, {"whatsapp": wa}, fast_settings(), clock=clock, limits=limits)
    await drain(worker)
    assert len(wa.sends) == 3
    async with db.session() as s:
        await service.pause(s, bid, "cli:a")
    clock.advance(5 * 24 * 3600)  # paused for five days: days 2 and 3 are long overdue
    async with db.session() as s:
        await service.resume(s, bid, "cli:a", limits, now=clock())
    worker.notify()
    await drain(worker)
    assert len(wa.sends) == 6  # one day's batch, not both
    clock.advance(24 * 3600 + 60)
    await drain(worker)
    assert len(wa.sends) == 9


async def test_two_broadcasts_share_one_tier(db, clock):
    await add_chats(db, 4, channel="whatsapp", start=1)
    await add_chats(db, 4, channel="whatsapp", start=50, linked=True)
    wa = FakeChannel("whatsapp")
    limits = Limits(FAST, tier=6)
    first = await start_broadcast(db, Segment(audience="subscribers", channels=["whatsapp"]))
    worker = BroadcastWorker(db, {"whatsapp": wa}, fast_settings(batch_size=2), clock=clock, limits=limits)
    await worker.step()  # the first broadcast is planned and has created only 2 of its 8 rows so far
    second = await start_broadcast(db, Segment(audience="linked", channels=["whatsapp"]))
    worker.notify()
    await drain(worker)
    assert len(wa.sends) == 6  # 8 + 4 people want today's 6 places: 6 go today
    async with db.session() as s:
        plans = [Plan.from_json((await service.get(s, b)).plan) for b in (first, second)]
    assert plans[0].batches[0].tier_quota == 6 and plans[1].used == 6 and plans[1].batches[0].tier_quota == 0
    clock.advance(24 * 3600 + 60)
    await drain(worker)
    assert len(wa.sends) == 12 and wa.per_user().most_common(1)[0][1] == 2  # the linked chats are subscribers too
