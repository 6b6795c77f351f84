"""Where CPU-heavy dialogue work runs (document checks): a worker pool when the service installed one
(`bot/workers.py`), a thread otherwise (CLI, tests building the engine alone)."""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")
Runner = Callable[..., Awaitable[Any]]

_runner: Runner | None = None


class OffloadError(Exception):
    """The offloaded call could not complete in the worker pool (the input is the likely culprit)."""


class OffloadTimeout(OffloadError):
    """The offloaded call ran longer than the runner allows (its worker was stopped)."""


def install(runner: Runner) -> None:
    """Use `runner(fn, *args)` (e.g. WorkerPool.run) for every offloaded call from now on."""
    global _runner
    _runner = runner


def uninstall(runner: Runner) -> None:
    """Back to threads, unless another runner was installed meanwhile."""
    global _runner
    if _runner == runner:
        _runner = None


async def run(fn: Callable[..., T], *args: Any, timeout: float | None = None) -> T:
    """Run `fn(*args)` away from the event loop. `fn` must be a module-level function (picklable).
    `timeout`: the runner's limit for this call (default the runner's own)."""
    if _runner is None:
        return await asyncio.to_thread(fn, *args)
    if timeout is None:
        return await _runner(fn, *args)  # type: ignore[no-any-return]
    return await _runner(fn, *args, timeout=timeout)  # type: ignore[no-any-return]
