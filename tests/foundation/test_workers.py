"""The worker pool's two lanes (bot/workers.py): document checks at a lower priority than the serving process,
OCR (background) at the lowest, including the programs it starts; `dialogues.offload` routes to them."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bot.workers import BACKGROUND_NICENESS, WORKER_NICENESS, WorkerPool, WorkerTimeout
from dialogues import offload

LINUX = sys.platform.startswith("linux")


def priority() -> tuple[int, int]:
    """(niceness, scheduling policy) of the calling process."""
    return os.nice(0), os.sched_getscheduler(0) if LINUX else -1


def child_policy() -> int:
    """The scheduling policy of a program started by the calling process (as the OCR starts Tesseract)."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.sched_getscheduler(0))"],
                          capture_output=True, text=True, check=True)
    return int(done.stdout)


def sleep(seconds: float) -> None:
    import time

    time.sleep(seconds)


async def test_checks_run_niced_and_ocr_runs_idle_with_the_programs_it_starts() -> None:
    pool = WorkerPool(max_workers=1)
    pool.start()
    try:
        mine = os.nice(0)
        nice, policy = await offload.run(priority)
        assert nice == min(19, mine + WORKER_NICENESS) and (not LINUX or policy == os.SCHED_OTHER)
        nice, policy = await offload.run_background(priority)
        assert nice == min(19, mine + BACKGROUND_NICENESS)
        if LINUX:
            assert policy == os.SCHED_IDLE
            assert await offload.run_background(child_policy) == os.SCHED_IDLE
    finally:
        pool.stop()


async def test_without_a_pool_both_run_in_a_thread() -> None:
    assert await offload.run(priority) == priority()
    assert await offload.run_background(priority) == priority()


async def test_an_overrunning_background_task_does_not_stop_the_checks() -> None:
    pool = WorkerPool(max_workers=1, timeout=30)
    pool.start()
    try:
        with pytest.raises(WorkerTimeout):
            await offload.run_background(sleep, 5, timeout=0.5)
        assert await offload.run(priority) == (min(19, os.nice(0) + WORKER_NICENESS),
                                                os.SCHED_OTHER if LINUX else -1)
        assert (await offload.run_background(priority))[0] == min(19, os.nice(0) + BACKGROUND_NICENESS)
    finally:
        pool.stop()
