"""The outbox on its own, with a scripted push channel and a fake clock: leases, attempts, ordering across
conversations, the rate limiter, and the background worker."""
from __future__ import annotations

import asyncio
from typing import Any

from bot.core.channel import SendResult
from bot.core.outbox import LEASE_SECONDS, Outbox, RateLimit, RateLimiter
from tests.channels.helpers import FakeClock, conversation, message, queue


MAX_WAIT = 600  # seconds; longer than any back-off of the first attempts


class ScriptedChannel:
    """A push channel whose answers the test decides; records (user, text) of every attempt."""

    name = "fake"
    push = True

    def __init__(self, *limits: RateLimit) -> None:
        self.rate_limits = limits
        self.script: list[SendResult | Exception] = []
        self.attempts: list[tuple[str, str]] = []

    def setup_routes(self, app: Any) -> None: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def send(self, conversation: Any, message: Any) -> SendResult:
        self.attempts.append((conversation.channel_user_id, message.text))
        answer = self.script.pop(0) if self.script else SendResult(ok=True, provider_message_id=f"p{message.id}")
        if isinstance(answer, Exception):
            raise answer
        return answer


def make(services: Any, channel: ScriptedChannel, clock: FakeClock, **kwargs: Any) -> Outbox:
    return Outbox(services.db, {"fake": channel, **services.channels}, clock=clock, **kwargs)


async def test_only_push_channels_are_served(services):
    box = make(services, ScriptedChannel(), FakeClock())
    assert list(box.channels) == ["fake"]  # web chat replies are pulled by the browser


async def test_expired_lease_is_not_resent_but_maybe_sent(services):
    """A worker that died mid-send may have delivered the message: it is not sent a second time blindly."""
    clock = FakeClock()
    channel = ScriptedChannel()
    box = make(services, channel, clock)
    [mid] = await queue(services, "fake", "u1", "halo")
    assert len(await box._claim()) == 1  # a worker claimed it ... and died before recording the result
    assert (await message(services, mid)).status == "sending"
    assert await box.send_due() == 0
    clock.advance(LEASE_SECONDS + 1)
    assert await box.send_due() == 0
    row = await message(services, mid)
    assert row.status == "maybe_sent" and row.attempts == 1 and channel.attempts == []


async def test_exceptions_are_retried_then_failed_with_reason(services):
    clock = FakeClock()
    channel = ScriptedChannel()
    channel.script = [RuntimeError("boom"), RuntimeError("boom"), RuntimeError("boom")]
    box = make(services, channel, clock, max_attempts=3)
    [mid] = await queue(services, "fake", "u1", "halo")
    for _ in range(3):
        await box.send_due()
        clock.advance(MAX_WAIT)
    row = await message(services, mid)
    assert row.status == "failed" and row.error == "gave up after 3 attempts: RuntimeError"
    assert len(channel.attempts) == 3


async def test_undeliverable_is_recorded(services):
    channel = ScriptedChannel()
    channel.script = [SendResult(ok=False, undeliverable=True, error="outside window")]
    box = make(services, channel, FakeClock())
    [mid, later] = await queue(services, "fake", "u1", "satu", "dua")
    await box.drain()
    assert (await message(services, mid)).status == "undeliverable"
    assert (await message(services, later)).status == "sent"  # the next one is not held back


async def test_conversations_do_not_wait_for_each_other(services):
    clock = FakeClock()
    channel = ScriptedChannel()
    channel.script = [SendResult(ok=False, retry_after=30, error="429")]
    box = make(services, channel, clock)
    await queue(services, "fake", "slow", "a1", "a2")
    await queue(services, "fake", "fast", "b1", "b2")
    await box.drain()
    assert [t for u, t in channel.attempts] == ["a1", "b1", "b2"]
    clock.advance(30)
    await box.drain()
    assert [t for u, t in channel.attempts][3:] == ["a1", "a2"]


async def test_permanent_non_blocking_error_keeps_the_conversation(services):
    channel = ScriptedChannel()
    channel.script = [SendResult(ok=False, permanent=True, error="bad request: too long")]
    box = make(services, channel, FakeClock())
    await queue(services, "fake", "u1", "x")
    await box.drain()
    assert not (await conversation(services, "fake", "u1")).blocked


def test_rate_limiter_burst_and_spacing():
    limiter = RateLimiter()
    limit = RateLimit(per_second=2, burst=3)
    keys = [(("c", "*", 0), limit)]
    for _ in range(3):
        assert limiter.wait(keys, 100.0) == 0
        limiter.take(keys, 100.0)
    assert limiter.wait(keys, 100.0) == 0.5
    assert limiter.wait(keys, 100.5) == 0
    limiter.take(keys, 100.5)
    assert limiter.wait(keys, 100.5) == 0.5
    limiter.prune(1000.0)
    assert limiter.wait(keys, 1000.0) == 0


async def test_worker_sends_when_woken(services):
    channel = ScriptedChannel()
    box = Outbox(services.db, {"fake": channel})
    box.start()
    try:
        [mid] = await queue(services, "fake", "u1", "halo")
        box.notify("fake")
        for _ in range(200):
            if (await message(services, mid)).status == "sent":
                break
            await asyncio.sleep(0.02)
        assert (await message(services, mid)).status == "sent"
    finally:
        await box.stop()


async def test_worker_waits_for_the_rate_limit_not_a_second(services):
    channel = ScriptedChannel(RateLimit(per_second=10, burst=1, per_chat=True))
    box = Outbox(services.db, {"fake": channel})
    await queue(services, "fake", "u1", "a", "b", "c")
    loop = asyncio.get_running_loop()
    started = loop.time()
    box.start()
    try:
        while len(channel.attempts) < 3 and loop.time() - started < 5:
            await asyncio.sleep(0.01)
    finally:
        await box.stop()
    elapsed = loop.time() - started
    assert len(channel.attempts) == 3 and 0.15 <= elapsed < 0.9
