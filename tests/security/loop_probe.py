"""Measures how responsive the service stays: a concurrent /healthz poller (every 10 ms) on the test client.

The test server runs on the test's own event loop, so anything that blocks the loop shows up as a slow
poll. The assertions in the tests are generous (seconds, not the 100 ms target): speed targets are checked
by bench/abuse.py on a quiet machine; here they catch a regression from milliseconds back to seconds."""
from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

POLL_EVERY = 0.01
STALL_LIMIT = 1.5  # seconds; before these fixes one 1 MB message stalled the loop for ~10 s


@dataclass
class Probe:
    latencies: list[float] = field(default_factory=list)
    failures: int = 0

    @property
    def worst(self) -> float:
        return max(self.latencies, default=0.0)


@asynccontextmanager
async def healthz_probe(client: Any) -> AsyncIterator[Probe]:
    """Poll /healthz while the body runs; at least a few polls are always made."""
    probe, stop = Probe(), asyncio.Event()

    async def poll() -> None:
        due = time.perf_counter()  # when this poll should start; a blocked loop starts it late
        while not stop.is_set() or len(probe.latencies) < 3:
            response = await client.get("/healthz")
            await response.read()
            if response.status != 200:
                probe.failures += 1
            probe.latencies.append(time.perf_counter() - due)  # lateness + request time
            due = time.perf_counter() + POLL_EVERY
            await asyncio.sleep(POLL_EVERY)

    task = asyncio.create_task(poll())
    try:
        yield probe
    finally:
        stop.set()
        await task
