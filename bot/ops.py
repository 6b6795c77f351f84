"""Production operation wiring: /metrics, the request middleware, and the background jobs of every
process — the inbox sweep and the retention job.

Scheduled jobs run once across processes: a job takes a PostgreSQL advisory lock (other processes skip
while it is held) and then checks the AuditLog for its last run, so it runs at most once per interval no
matter how many processes are up. On SQLite (one process) the lock is a no-op.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from typing import Any

from aiohttp import web
from sqlalchemy import select, text

from bot.core import metrics
from bot.core.loop_errors import PassErrors
from bot.core.ops_http import request_middleware
from storage.db import Database
from storage.models import AuditLog
from storage.retention import apply_retention

log = logging.getLogger(__name__)

RETENTION_LOCK_KEY = 0x68616A69  # 'haji'
RETENTION_ACTION = "retention.run"
WORKER_KEY: web.AppKey["OpsWorker"] = web.AppKey("ops_worker")


@asynccontextmanager
async def job_lock(db: Database, key: int) -> AsyncIterator[bool]:
    """Yields True when this process holds the job's lock (PostgreSQL advisory lock; always on SQLite)."""
    if db.is_sqlite:
        yield True
        return
    async with db.engine.connect() as conn:
        got = bool((await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key})).scalar())
        try:
            yield got
        finally:
            if got:
                await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            await conn.commit()


async def run_retention_once(services: Any, force: bool = False) -> dict[str, int] | None:
    """Run the retention job if no other process runs it now and it has not run within the interval."""
    settings = services.settings.config.ops.retention
    async with job_lock(services.db, RETENTION_LOCK_KEY) as held:
        if not held:
            return None
        now = datetime.now(timezone.utc)
        async with services.db.session() as session:
            last = (await session.execute(select(AuditLog.at).where(AuditLog.action == RETENTION_ACTION)
                                          .order_by(AuditLog.id.desc()).limit(1))).scalar_one_or_none()
        if not force and last is not None and now - last < timedelta(minutes=settings.run_every_minutes):
            return None
        report = await apply_retention(services.db, services.files, settings.closed_case_documents_days,
                                       settings.messages_days, settings.batch, now)
        async with services.db.session() as session:
            session.add(AuditLog(at=now, actor="system", action=RETENTION_ACTION, detail=report.as_dict()))
            await session.commit()
        return report.as_dict()


class OpsWorker:
    """Background loops of one process: sweep unprocessed inbound messages, run retention when due."""

    def __init__(self, services: Any) -> None:
        self.services = services
        self.ops = services.settings.config.ops
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._sweep_loop(), name="inbox-sweep"))
        if self.ops.retention.enabled:
            self._tasks.append(asyncio.create_task(self._retention_loop(), name="retention"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        self._tasks.clear()

    async def _sweep_loop(self) -> None:
        """Messages stored but left unprocessed (a request failed mid-way, a process died) get processed."""
        while True:
            await asyncio.sleep(self.ops.sweep_seconds)
            try:
                count = await self.services.pipeline.recover(older_than_seconds=self.ops.stale_seconds)
                if count:
                    log.info("sweep processed %d waiting inbound messages", count)
            except Exception as exc:
                log.warning("inbox sweep failed (%s)", type(exc).__name__)

    async def _retention_loop(self) -> None:
        await asyncio.sleep(30)  # not during start-up bursts
        errors = PassErrors("retention job", log)
        while True:
            try:
                await run_retention_once(self.services)
                errors.succeeded()
            except Exception as exc:
                errors.failed(exc)
            await asyncio.sleep(min(self.ops.retention.run_every_minutes * 60, 3600) / 4)


def setup_routes(app: web.Application, services: Any) -> None:
    """/metrics, the request middleware and the background jobs (one line in bot/extensions.py)."""
    metrics.setup_routes(app, services)
    app.middlewares.append(request_middleware)
    worker = OpsWorker(services)
    app[WORKER_KEY] = worker

    async def start(_app: web.Application) -> None:
        worker.start()

    async def stop(_app: web.Application) -> None:
        await worker.stop()

    app.on_startup.append(start)
    app.on_cleanup.insert(0, stop)
