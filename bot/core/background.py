"""A background job that runs passes until stopped (outbox, broadcast fan-out, outgoing webhooks).

Between passes that found nothing to do it sleeps `idle_seconds()`, or less when `wake()` is called. A failed
pass is reported by `PassErrors` (one line per database outage, a traceback for anything else) and the loop
goes on."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from bot.core.loop_errors import PassErrors


class BackgroundLoop:
    def __init__(self, name: str, logger: logging.Logger, run_pass: Callable[[], Awaitable[bool]],
                 idle_seconds: Callable[[], float]) -> None:
        """`run_pass()` returns True when it did work (the next pass starts at once)."""
        self.name = name
        self._run_pass = run_pass
        self._idle_seconds = idle_seconds
        self._errors = PassErrors(name, logger)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def running(self) -> bool:
        return self._task is not None

    @property
    def stopping(self) -> bool:
        """stop() was called: a long pass should end early."""
        return self._stopping

    @property
    def woken(self) -> bool:
        """wake() was called since the last idle wait."""
        return self._wake.is_set()

    def start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self.run(), name=self.name)

    async def stop(self) -> None:
        """Let the pass in progress finish, then stop."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None

    def wake(self) -> None:
        """Something to do: end the current idle wait now."""
        self._wake.set()

    async def run(self, until_idle: Callable[[], Awaitable[bool]] | None = None) -> None:
        """Run passes until stopped, or, with `until_idle`, until a pass did nothing and it returns False."""
        while not self._stopping:
            try:
                worked = await self._run_pass()
                self._errors.succeeded()
            except Exception as exc:
                self._errors.failed(exc)
                worked = False
            if worked:
                continue
            if until_idle is not None and not await until_idle():
                return
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=max(self._idle_seconds(), 0.005))
            except asyncio.TimeoutError:
                pass
            self._wake.clear()
