"""A bounded pool of worker processes for CPU-heavy work that must not hold the event loop.

Image decoding and sharpness, PDF inspection, OCR of KTP/KK photos (bot/docread) and CSV parsing of registry
imports are pure functions of their bytes; pypdf and the csv module hold the GIL, so a thread would still stall
every conversation.
The pool has one process per core (at most `max_workers`), is started and stopped with the service
(`bot/app.py`, `Services.close`), and is installed as the runner of `dialogues.offload` so the dialogue
engine uses it without knowing about it. A task that overruns its time limit is abandoned: the pool is
replaced (its processes are terminated) and the caller gets `WorkerTimeout`.
"""
from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from dialogues import offload

log = logging.getLogger(__name__)

T = TypeVar("T")
DEFAULT_TIMEOUT = 30.0
WORKER_NICENESS = 10


class WorkerTimeout(offload.OffloadTimeout):
    """The task ran longer than its limit; its worker was terminated."""


class WorkerDied(offload.OffloadError):
    """A worker process died while running the task (e.g. killed for memory)."""


def _init_worker() -> None:
    """In each worker: a lower CPU priority, so on a busy machine the event loop's process (conversations,
    /healthz) is scheduled before document checks; then import the heavy modules once."""
    try:
        os.nice(WORKER_NICENESS)
    except OSError:  # not permitted: run at normal priority
        pass
    _warm_up()


def _warm_up() -> None:
    """Import the heavy modules, so the first document check is not slower than the next."""
    import bot.docread.reader  # noqa: F401
    import dialogues.documents  # noqa: F401
    import storage.registry_import  # noqa: F401


def default_size() -> int:
    """One worker per core the process may use, at least one."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, cores)


class WorkerPool:
    """`await pool.run(fn, *args)` runs `fn` (a module-level function) in a worker process."""

    def __init__(self, max_workers: int | None = None, timeout: float = DEFAULT_TIMEOUT, warm: bool = False) -> None:
        self.max_workers = max_workers or default_size()
        self.timeout = timeout
        self.warm = warm
        self._executor: ProcessPoolExecutor | None = None
        self._slots = asyncio.Semaphore(self.max_workers * 4)  # bounded queue: callers wait, memory does not grow

    def start(self) -> None:
        """Create the processes' executor and make it the runner of `dialogues.offload`."""
        if self._executor is None:
            self._executor = self._new_executor()
            if self.warm:  # spawn every worker now: the first document is not slowed by ~1 s of start-up
                for _ in range(self.max_workers):
                    self._executor.submit(_warm_up)
        offload.install(self.run)

    def _new_executor(self) -> ProcessPoolExecutor:
        # "spawn": a fork of a process running an event loop, threads and database connections is unsafe
        return ProcessPoolExecutor(self.max_workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_init_worker)

    async def run(self, fn: Callable[..., T], *args: Any, timeout: float | None = None) -> T:
        """Run `fn(*args)` in a worker; raises WorkerTimeout after `timeout` seconds (default the pool's)."""
        if self._executor is None:
            self.start()
        async with self._slots:
            executor = self._executor
            assert executor is not None
            loop = asyncio.get_running_loop()
            try:
                future = loop.run_in_executor(executor, fn, *args)
            except (BrokenProcessPool, RuntimeError):  # a worker died (e.g. out of memory): start afresh
                self._replace(executor)
                future = loop.run_in_executor(self._executor, fn, *args)
            try:
                return await asyncio.wait_for(future, timeout or self.timeout)
            except asyncio.TimeoutError:
                log.error("worker task %s exceeded %.0f s; its worker is terminated",
                          getattr(fn, "__name__", "?"), timeout or self.timeout)
                self._replace(executor)
                raise WorkerTimeout(getattr(fn, "__name__", "task")) from None
            except BrokenProcessPool:
                log.error("worker process died during %s; the pool is restarted", getattr(fn, "__name__", "?"))
                self._replace(executor)
                raise WorkerDied(getattr(fn, "__name__", "task")) from None

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        """Terminate the processes of `broken` (other tasks on it fail) and open a new executor."""
        if self._executor is broken:
            self._executor = self._new_executor()
        _terminate(broken)

    def stop(self) -> None:
        """Stop the workers; queued tasks are cancelled."""
        offload.uninstall(self.run)
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)


def _terminate(executor: ProcessPoolExecutor) -> None:
    processes = list((getattr(executor, "_processes", None) or {}).values())  # no public API for this
    for process in processes:
        if process.is_alive():
            process.terminate()
    executor.shutdown(wait=False, cancel_futures=True)
