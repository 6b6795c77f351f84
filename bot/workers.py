"""Pools of worker processes for CPU-heavy work that must not hold the event loop.

Image decoding and sharpness, PDF inspection, letter rendering and CSV parsing of registry imports are pure
functions of their bytes; pypdf and the csv module hold the GIL, so a thread would still stall every
conversation. Two lanes, so that documents never slow text:
- interactive: someone waits for the result (a pilgrim's upload, a letter, a registry import). One process per
  core (at most `max_workers`), at niceness 10: the serving process's event loop is scheduled first.
- background: nobody waits (OCR of submitted identity documents, `bot/docread`). One process under SCHED_IDLE
  (Linux; elsewhere niceness 19), inherited by the Tesseract it runs: it only gets CPU time that no other process
  wants, so a stream of OCR runs never competes with conversations or document checks.
The pool is started and stopped with the service (`bot/app.py`, `Services.close`), and is installed as the runner
of `dialogues.offload` (`run` and `run_background`) so the dialogue engine uses it without knowing about it. A
task that overruns its time limit is abandoned: its lane's executor is replaced (its processes are terminated)
and the caller gets `WorkerTimeout`.
"""
from __future__ import annotations

import asyncio
import importlib
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
WORKER_NICENESS = 10  # interactive lane: added to the serving process's niceness
BACKGROUND_NICENESS = 19  # background lane (the most there is), besides SCHED_IDLE where available
# what the interactive lane's tasks run; letters are rendered while the conversation (on SQLite: every write) waits,
# so reportlab's import (~1 s) must not fall on the first case of the day
WARM_MODULES = ("dialogues.documents", "dialogues.letter_pdf", "storage.registry_import")
BACKGROUND_MODULES = ("bot.docread.reader",)  # what the background lane's tasks run


class WorkerTimeout(offload.OffloadTimeout):
    """The task ran longer than its limit; its worker was terminated."""


class WorkerDied(offload.OffloadError):
    """A worker process died while running the task (e.g. killed for memory)."""


def _init_interactive() -> None:
    """In each interactive worker: a lower CPU priority, so on a busy machine the event loop's process
    (conversations, /healthz) is scheduled before document checks; then import the heavy modules once."""
    _nice(WORKER_NICENESS)
    _warm_up()


def _init_background() -> None:
    """In the background worker: niceness 19, import the heavy modules once, then SCHED_IDLE (which the programs
    it starts inherit; the imports come first, so a busy machine cannot starve the worker's start-up)."""
    _nice(BACKGROUND_NICENESS)
    _warm_up(BACKGROUND_MODULES)
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):  # not Linux, or not permitted: niceness 19 only
        pass


def _nice(increment: int) -> None:
    try:
        os.nice(increment)
    except OSError:  # not permitted: run at the current priority
        pass


def _warm_up(modules: tuple[str, ...] = WARM_MODULES) -> None:
    """Import the heavy modules, so the first task is not slower than the next."""
    for name in modules:
        importlib.import_module(name)


def default_size() -> int:
    """One worker per core the process may use, at least one."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, cores)


class Lane:
    """An executor of `size` spawned processes started by `initializer`, with a bounded queue and time limits."""

    def __init__(self, name: str, size: int, initializer: Callable[[], None], timeout: float) -> None:
        self.name = name
        self.size = size
        self.initializer = initializer
        self.timeout = timeout
        self._executor: ProcessPoolExecutor | None = None
        self._slots = asyncio.Semaphore(size * 4)  # bounded queue: callers wait, memory does not grow

    def start(self, warm: bool) -> None:
        if self._executor is None:
            self._executor = self._new_executor()
            if warm:  # spawn every worker now: the first task is not slowed by ~1 s of start-up
                for _ in range(self.size):
                    self._executor.submit(os.getpid)

    def _new_executor(self) -> ProcessPoolExecutor:
        # "spawn": a fork of a process running an event loop, threads and database connections is unsafe
        return ProcessPoolExecutor(self.size, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=self.initializer)

    async def run(self, fn: Callable[..., T], *args: Any, timeout: float | None = None) -> T:
        """Run `fn(*args)` in a worker; raises WorkerTimeout after `timeout` seconds (default the lane's)."""
        if self._executor is None:
            self.start(warm=False)
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
                log.error("%s worker task %s exceeded %.0f s; its worker is terminated", self.name,
                          getattr(fn, "__name__", "?"), timeout or self.timeout)
                self._replace(executor)
                raise WorkerTimeout(getattr(fn, "__name__", "task")) from None
            except BrokenProcessPool:
                log.error("%s worker process died during %s; the lane is restarted", self.name,
                          getattr(fn, "__name__", "?"))
                self._replace(executor)
                raise WorkerDied(getattr(fn, "__name__", "task")) from None

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        """Terminate the processes of `broken` (other tasks on it fail) and open a new executor."""
        if self._executor is broken:
            self._executor = self._new_executor()
        _terminate(broken)

    def stop(self) -> None:
        """Stop the workers; queued tasks are cancelled."""
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)


class WorkerPool:
    """`await pool.run(fn, *args)` runs `fn` (a module-level function) in an interactive worker process,
    `await pool.run_background(fn, *args)` in the background one."""

    def __init__(self, max_workers: int | None = None, timeout: float = DEFAULT_TIMEOUT, warm: bool = False) -> None:
        self.max_workers = max_workers or default_size()
        self.timeout = timeout
        self.warm = warm
        self.interactive = Lane("interactive", self.max_workers, _init_interactive, timeout)
        self.background = Lane("background", 1, _init_background, timeout)

    def start(self) -> None:
        """Create the lanes' executors and make them the runners of `dialogues.offload`. With `warm`, every
        worker is spawned now (its start-up is not paid by the first document, nor during traffic)."""
        self.interactive.start(self.warm)
        self.background.start(self.warm)
        offload.install(self.run, self.run_background)

    async def run(self, fn: Callable[..., T], *args: Any, timeout: float | None = None) -> T:
        """Run `fn(*args)` in an interactive worker; raises WorkerTimeout after `timeout` seconds."""
        return await self.interactive.run(fn, *args, timeout=timeout)

    async def run_background(self, fn: Callable[..., T], *args: Any, timeout: float | None = None) -> T:
        """Run `fn(*args)` in the background worker (lowest CPU priority); WorkerTimeout after `timeout` s."""
        return await self.background.run(fn, *args, timeout=timeout)

    def stop(self) -> None:
        """Stop the workers; queued tasks are cancelled."""
        offload.uninstall(self.run)
        self.interactive.stop()
        self.background.stop()


def _terminate(executor: ProcessPoolExecutor) -> None:
    processes = list((getattr(executor, "_processes", None) or {}).values())  # no public API for this
    for process in processes:
        if process.is_alive():
            process.terminate()
    executor.shutdown(wait=False, cancel_futures=True)
