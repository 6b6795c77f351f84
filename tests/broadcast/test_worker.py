"""Fan-out worker with fake channels and a fake clock: scheduling, approval, rate limits, 429, back-off,
permanent failures, opt-out during a running broadcast, pause/resume/cancel, crash and restart."""
from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.broadcast import service
from bot.broadcast.audience import Segment, count
from bot.broadcast.settings import ChannelRate
from bot.broadcast.worker import INTERRUPTED, BroadcastWorker
from bot.core.channel import SendResult
from storage.broadcast_models import BroadcastDelivery
from storage.models import Conversation, Message
from tests.broadcast.conftest import FakeChannel, add_chats, fast_settings


async def start_broadcast(db: Any, text: str = "Halo {nama}", segment: Segment | None = None,
                          approval: bool = False, **kwargs: Any) -> int:
    async with db.session() as s:
        b = await service.create(s, title="Info", text=text, segment=segment or Segment(), actor="cli:a", **kwargs)
        await service.submit(s, b.id, "cli:a", require_approval=approval, admin=not approval)
        return b.id


async def states(db: Any, broadcast_id: int) -> dict[str, int]:
    async with db.session() as s:
        return (await service.progress(s, broadcast_id)).by_state


async def drain(worker: BroadcastWorker, clock: Any, steps: int = 200, tick: float = 0.0) -> None:
    for _ in range(steps):
        await worker.step()
        if tick:
            clock.advance(tick)


async def test_scheduled_for_later(db, clock):
    await add_chats(db, 3)
    tg = FakeChannel("telegram")
    bid = await start_broadcast(db, scheduled_at=clock() + timedelta(hours=2))
    worker = BroadcastWorker(db, {"telegram": tg}, fast_settings(), clock=clock)
    await drain(worker, clock, 5)
    assert tg.sends == [] and (await states(db, bid)) == {}
    clock.advance(2 * 3600)
    await drain(worker, clock, 5)
    assert len(tg.sends) == 3
    async with db.session() as s:
        b = await service.get(s, bid)
    assert b.status == "completed" and b.started_at == clock()


async def test_approval_by_second_officer(db, clock):
    await add_chats(db, 2)
    tg = FakeChannel("telegram")
    bid = await start_broadcast(db, approval=True)
    worker = BroadcastWorker(db, {"telegram": tg}, fast_settings(), clock=clock)
    await drain(worker, clock, 3)
    assert tg.sends == []
    async with db.session() as s:
        with pytest.raises(service.BroadcastError) as err:
            await service.approve(s, bid, "cli:a")
        assert err.value.key == "error_self_approval"
        approved = await service.approve(s, bid, "cli:b")
        assert approved.status == "scheduled" and approved.approved_by == "cli:b"
    worker.notify()  # the back office and the CLI wake the worker (else it looks again after poll_seconds)
    await drain(worker, clock, 3)
    assert len(tg.sends) == 2


async def test_rate_limit_with_fake_clock(db, clock):
    await add_chats(db, 100)
    tg = FakeChannel("telegram")
    settings = fast_settings(rates={"telegram": ChannelRate(per_second=10, burst=10)}, max_in_flight=100)
    worker = BroadcastWorker(db, {"telegram": tg}, settings, clock=clock)
    await start_broadcast(db)
    await drain(worker, clock, 5)
    assert len(tg.sends) == 10  # the burst, then nothing until time moves
    clock.advance(0.5)
    await drain(worker, clock, 3)
    assert len(tg.sends) == 15
    elapsed = 0.5
    while len(tg.sends) < 100:
        clock.advance(0.1)
        elapsed += 0.1
        await worker.step()
        assert len(tg.sends) <= 10 + 10 * elapsed + 1e-6
    assert 8.9 <= elapsed <= 9.2  # 90 after the burst at 10/s


async def test_429_holds_channel_and_keeps_attempts(db, clock):
    await add_chats(db, 3)
    tg = FakeChannel("telegram", script={"u1": [SendResult(ok=False, retry_after=30, error="429: flood")]})
    worker = BroadcastWorker(db, {"telegram": tg}, fast_settings(max_in_flight=1), clock=clock)
    bid = await start_broadcast(db)
    await drain(worker, clock, 5)
    assert tg.sends == []  # u1 got 429; the channel is held for 30 s
    clock.advance(29)
    await drain(worker, clock, 3)
    assert tg.sends == []
    clock.advance(1.5)
    await drain(worker, clock, 10)
    assert sorted(u for u, _ in tg.sends) == ["u1", "u2", "u3"]
    async with db.session() as s:
        first = (await s.execute(select(BroadcastDelivery).order_by(BroadcastDelivery.id))).scalars().first()
    assert first.status == "sent" and first.attempts == 1
    assert (await states(db, bid)) == {"sent": 3}


async def test_transient_errors_back_off_then_give_up(db, clock):
    await add_chats(db, 2)
    flaky = [SendResult(ok=False, error="network: timeout")] * 10
    tg = FakeChannel("telegram", script={"u1": list(flaky), "u2": [SendResult(ok=False, error="network")]})
    worker = BroadcastWorker(db, {"telegram": tg}, fast_settings(max_attempts=3), clock=clock)
    bid = await start_broadcast(db)
    await drain(worker, clock, 3)
    assert tg.sends == []
    await drain(worker, clock, 40, tick=1.0)  # back-off 2 s, 4 s (± jitter)
    async with db.session() as s:
        rows = {r.conversation_id: r for r in (await s.execute(select(BroadcastDelivery))).scalars()}
    assert [u for u, _ in tg.sends] == ["u2"]
    failed = rows[1]
    assert failed.status == "failed" and failed.attempts == 3 and failed.error.startswith("gave up after 3 attempts")
    assert (await states(db, bid)) == {"sent": 1, "failed": 1}


async def test_permanent_failure_blocks_and_is_skipped_next_time(db, clock):
    await add_chats(db, 3)
    blocked = SendResult(ok=False, permanent=True, error="blocked: Forbidden: bot was blocked by the user")
    tg = FakeChannel("telegram", script={"u2": [blocked]})
    worker = BroadcastWorker(db, {"telegram": tg}, fast_settings(), clock=clock)
    bid = await start_broadcast(db)
    await drain(worker, clock, 5)
    assert (await states(db, bid)) == {"sent": 2, "failed": 1}
    async with db.session() as s:
        assert (await s.get(Conversation, 2)).blocked is True
        assert (await count(s, Segment()))["total"] == 2
        csv_text = "".join([c async for c in service.failed_csv_chunks(s, bid)])
    assert "u2" in csv_text and "blocked" in csv_text
    second = await start_broadcast(db)
    worker.notify()
    await drain(worker, clock, 5)
    assert (await states(db, second)) == {"sent": 2}
    assert [u for u, _ in tg.sends].count("u2") == 0


@pytest.mark.parametrize("keyword", ["STOP", "berhenti", "Berhenti langganan!"])
async def test_optout_keyword_during_running_broadcast(db, clock, keyword):
    ids = await add_chats(db, 20, linked=True, subscribed=False)
    tg = FakeChannel("telegram")
    worker = BroadcastWorker(db, {"telegram": tg}, fast_settings(max_in_flight=5, batch_size=50), clock=clock)
    bid = await start_broadcast(db)
    await worker.step()
    assert len(tg.sends) == 5
    clock.advance(1)
    async with db.session() as s:  # u15 writes STOP while the broadcast runs (pipeline not involved)
        s.add(Message(conversation_id=ids[14], channel="telegram", direction="in", text=keyword, status="processed",
                      created_at=clock()))
        await s.commit()
    await drain(worker, clock, 10)
    users = [u for u, _ in tg.sends]
    assert "u15" not in users and len(users) == 19
    assert (await states(db, bid)) == {"sent": 19, "skipped": 1}
    async with db.session() as s:
        assert (await count(s, Segment()))["total"] == 19  # recorded: excluded from the next broadcast too


async def test_unsubscribe_during_running_broadcast(db, clock):
    await add_chats(db, 10)
    tg = FakeChannel("telegram")
    worker = BroadcastWorker(db, {"telegram": tg}, fast_settings(max_in_flight=3), clock=clock)
    bid = await start_broadcast(db)
    await worker.step()
    async with db.session() as s:  # the dialogue engine's `unsubscribe` intent
        conv = await s.get(Conversation, 9)
        conv.subscribed = False
        await s.commit()
    await drain(worker, clock, 10)
    assert "u9" not in [u for u, _ in tg.sends]
    assert (await states(db, bid)) == {"sent": 9, "skipped": 1}


async def test_pause_resume_cancel(db, clock):
    await add_chats(db, 30)
    tg = FakeChannel("telegram")
    worker = BroadcastWorker(db, {"telegram": tg}, fast_settings(max_in_flight=10), clock=clock)
    bid = await start_broadcast(db)
    await worker.step()
    async with db.session() as s:
        await service.pause(s, bid, "cli:a")
    await drain(worker, clock, 5)
    assert len(tg.sends) == 10
    async with db.session() as s:
        assert (await service.resume(s, bid, "cli:a")).status == "running"
    await worker.step()
    assert len(tg.sends) == 20
    async with db.session() as s:
        await service.cancel(s, bid, "cli:a")
    await drain(worker, clock, 5)
    assert len(tg.sends) == 20
    assert (await states(db, bid)) == {"sent": 20, "skipped": 10}


class Hanging(FakeChannel):
    """Sends `ok_first` messages, then hangs (the process 'dies' while these sends are in flight)."""

    def __init__(self, ok_first: int) -> None:
        super().__init__("telegram")
        self.ok_first = ok_first
        self.hung = asyncio.Event()

    async def send(self, conversation: Conversation, message: Message) -> SendResult:
        if len(self.sends) >= self.ok_first:
            self.hung.set()
            await asyncio.Event().wait()
        return await super().send(conversation, message)


async def crash_during_send(db: Any, clock: Any, ok_first: int, **settings: Any) -> Hanging:
    """A worker that is killed (its task cancelled) while some sends are in flight."""
    channel = Hanging(ok_first)
    worker = BroadcastWorker(db, {"telegram": channel}, fast_settings(**settings), clock=clock, worker_id="dead")
    task = asyncio.create_task(drain(worker, clock, 100))
    await asyncio.wait_for(channel.hung.wait(), 10)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return channel


@pytest.mark.parametrize("resend", [True, False])
async def test_crash_mid_send_restart(db, clock, resend):
    """Killed with 10 sends in flight (claimed, not yet handed to the platform): after the lease, a new worker
    either sends them (resend_interrupted) or lists them as failed 'interrupted'; never twice."""
    await add_chats(db, 50)
    bid = await start_broadcast(db)
    dead = await crash_during_send(db, clock, ok_first=20, max_in_flight=10, lease_seconds=60,
                                   resend_interrupted=resend)
    assert len(dead.sends) == 20
    assert (await states(db, bid)) == {"sent": 20, "sending": 10, "pending": 20}
    fresh = FakeChannel("telegram")
    worker = BroadcastWorker(db, {"telegram": fresh}, fast_settings(lease_seconds=60, resend_interrupted=resend),
                             clock=clock)
    await drain(worker, clock, 5)
    assert len(fresh.sends) == 20  # the pending ones; the leased rows wait for the lease to end
    clock.advance(61)
    await drain(worker, clock, 5)
    everyone = dead.per_user() + fresh.per_user()
    assert max(everyone.values()) == 1  # no duplicate
    if resend:
        assert len(everyone) == 50 and (await states(db, bid)) == {"sent": 50}
    else:
        assert len(everyone) == 40 and (await states(db, bid)) == {"sent": 40, "failed": 10}
        async with db.session() as s:
            errors = {r.error for r in (await s.execute(select(BroadcastDelivery).where(
                BroadcastDelivery.status == "failed"))).scalars()}
        assert errors == {INTERRUPTED}


async def test_crash_between_batches_restart_no_duplicate_no_miss(db, clock):
    """Killed at the boundaries a crash usually hits (after a recorded batch, during audience creation):
    the restarted worker continues exactly where the rows say."""
    await add_chats(db, 120)
    bid = await start_broadcast(db)
    sent: list[FakeChannel] = []
    for _ in range(6):  # six short-lived workers, each killed after two passes
        channel = FakeChannel("telegram")
        sent.append(channel)
        worker = BroadcastWorker(db, {"telegram": channel}, fast_settings(max_in_flight=9, batch_size=25),
                                 clock=clock)
        await worker.step()
        await worker.step()
    channel = FakeChannel("telegram")
    sent.append(channel)
    await drain(BroadcastWorker(db, {"telegram": channel}, fast_settings(), clock=clock), clock, 20)
    total = sum((c.per_user() for c in sent), start=type(channel.per_user())())
    assert len(total) == 120 and set(total.values()) == {1}
    assert (await states(db, bid)) == {"sent": 120}


async def test_graceful_stop_records_in_flight(db):
    """`stop()` (SIGTERM, deploy) lets the sends in flight finish and records them."""
    await add_chats(db, 40)
    gate = asyncio.Event()

    class Slow(FakeChannel):
        async def send(self, conversation: Conversation, message: Message) -> SendResult:
            gate.set()
            await asyncio.sleep(0.05)
            return await super().send(conversation, message)

    channel = Slow("telegram")
    worker = BroadcastWorker(db, {"telegram": channel}, fast_settings(max_in_flight=8, poll_seconds=0.01))
    bid = await start_broadcast(db)
    worker.start()
    await asyncio.wait_for(gate.wait(), 10)
    await worker.stop()
    by_state = await states(db, bid)
    assert by_state.get("sending", 0) == 0 and by_state["sent"] == len(channel.sends) > 0
    rest = FakeChannel("telegram")
    await BroadcastWorker(db, {"telegram": rest}, fast_settings(poll_seconds=0.01)).run(until_idle=True)
    assert len(channel.sends) + len(rest.sends) == 40
    assert not set(channel.per_user()) & set(rest.per_user())


async def test_webchat_recipients_get_a_stored_message(db, clock):
    from tests.broadcast.conftest import FakeChannel as Channel

    await add_chats(db, 2, channel="webchat")
    webchat = Channel("webchat", push=False)
    worker = BroadcastWorker(db, {"webchat": webchat}, fast_settings(), clock=clock)
    bid = await start_broadcast(db, text="Info manasik")
    await drain(worker, clock, 3)
    async with db.session() as s:
        rows = (await s.execute(select(Message).where(Message.sender == "broadcast"))).scalars().all()
    assert [r.status for r in rows] == ["pending", "pending"] and webchat.sends == []
    assert (await states(db, bid)) == {"sent": 2}


async def test_disabled_channel_rows_fail_and_broadcast_completes(db, clock):
    await add_chats(db, 2, channel="whatsapp")
    await add_chats(db, 2, channel="telegram", start=10)
    tg = FakeChannel("telegram")
    worker = BroadcastWorker(db, {"telegram": tg}, fast_settings(), clock=clock)
    bid = await start_broadcast(db)
    await drain(worker, clock, 5)
    async with db.session() as s:
        p = await service.progress(s, bid)
    assert p.status == "completed"
    assert p.by_channel == {"telegram": {"sent": 2}, "whatsapp": {"failed": 2}}
