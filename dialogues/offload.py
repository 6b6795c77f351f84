"""Where CPU-heavy dialogue work runs: a worker pool when the service installed one (`bot/workers.py`), a thread
otherwise (CLI, tests building the engine alone).

`run` is for work someone waits for (a document check, a letter); `run_background` for work nobody waits for
(OCR of submitted documents), which the pool runs at the lowest CPU priority so it never slows conversations."""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")
Runner = Callable[..., Awaitable[Any]]

_runner: Runner | None = None
_background: Runner | None = None


class OffloadError(Exception):
    """The offloaded call could not complete in the worker pool (the input is the likely culprit)."""


class OffloadTimeout(OffloadError):
    """The offloaded call ran longer than the runner allows (its worker was stopped)."""


def install(runner: Runner, background: Runner | None = None) -> None:
    """Use `runner(fn, *args)` (e.g. WorkerPool.run) for every offloaded call from now on, and `background`
    (default `runner`) for background calls."""
    global _runner, _background
    _runner, _background = runner, background


def uninstall(runner: Runner) -> None:
    """Back to threads, unless another runner was installed meanwhile."""
    global _runner, _background
    if _runner == runner:
        _runner = _background = None


async def run(fn: Callable[..., T], *args: Any, timeout: float | None = None) -> T:
    """Run `fn(*args)` away from the event loop. `fn` must be a module-level function (picklable).
    `timeout`: the runner's limit for this call (default the runner's own)."""
    return await _call(_runner, fn, args, timeout)


async def run_background(fn: Callable[..., T], *args: Any, timeout: float | None = None) -> T:
    """Like `run`, for work nobody is waiting for: it gets only the CPU time nothing else wants."""
    return await _call(_background or _runner, fn, args, timeout)


async def _call(runner: Runner | None, fn: Callable[..., T], args: tuple[Any, ...], timeout: float | None) -> T:
    if runner is None:
        return await asyncio.to_thread(fn, *args)
    if timeout is None:
        return await runner(fn, *args)  # type: ignore[no-any-return]
    return await runner(fn, *args, timeout=timeout)  # type: ignore[no-any-return]
