"""Prometheus metrics at /metrics (prometheus-client).

Two kinds:
- per-process counters/histograms updated on the message path (messages in/out per channel, processing
  latency, NLU results incl. fallbacks, HTTP requests and 503s) — each process exposes its own; Prometheus
  scrapes every process (sum them in queries);
- database-wide gauges read at scrape time (outbox backlog and failures, open cases per status, broadcast
  progress) — the same in every process, so use max() rather than sum() across processes.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from sqlalchemy import func, inspect, select, text

from storage.db import Database
from storage.models import Case, Message

log = logging.getLogger(__name__)

REGISTRY = CollectorRegistry(auto_describe=True)

MESSAGES_IN = Counter("hajibot_messages_in", "Inbound messages stored (not duplicates)", ["channel"],
                      registry=REGISTRY)
MESSAGES_OUT = Counter("hajibot_messages_out", "Outbound messages created by the pipeline", ["channel"],
                       registry=REGISTRY)
DUPLICATES = Counter("hajibot_messages_duplicate", "Redelivered inbound messages ignored", ["channel"],
                     registry=REGISTRY)
PROCESSING_SECONDS = Histogram(
    "hajibot_processing_seconds", "Time to process one inbound message (NLU + dialogue + commit)", ["channel"],
    buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0), registry=REGISTRY)
PROCESSING_FAILURES = Counter("hajibot_processing_failures", "Inbound messages whose processing raised",
                              registry=REGISTRY)
NLU_RESULTS = Counter("hajibot_nlu_parses", "NLU parses by outcome (fallback: no confident intent)",
                      ["outcome"], registry=REGISTRY)
HTTP_REQUESTS = Counter("hajibot_http_requests", "HTTP requests by route and status class",
                        ["route", "status"], registry=REGISTRY)
HTTP_UNAVAILABLE = Counter("hajibot_http_unavailable", "Requests answered 503 because the database was down",
                           registry=REGISTRY)
STORAGE_FULL = Counter("hajibot_storage_full", "Attachments not stored because the disk was full",
                       registry=REGISTRY)


def observe_nlu(intent: str | None) -> None:
    NLU_RESULTS.labels("fallback" if intent in (None, "nlu_fallback") else "intent").inc()


class _Families:
    """Adapter so generate_latest() can render metric families built at scrape time."""

    def __init__(self, families: Iterable[Any]) -> None:
        self._families = list(families)

    def collect(self) -> Iterable[Any]:
        return self._families


async def database_families(db: Database) -> list[Any]:
    """Outbox, cases and broadcast gauges, read from the database."""
    outbox = GaugeMetricFamily("hajibot_outbox_messages", "Outbound messages by channel and status",
                               labels=["channel", "status"])
    cases = GaugeMetricFamily("hajibot_cases", "Cases by status (open = not closed)", labels=["status"])
    families: list[Any] = [outbox, cases]
    async with db.session() as session:
        rows = (await session.execute(
            select(Message.channel, Message.status, func.count(Message.id))
            .where(Message.direction == "out", Message.status.in_(("pending", "sending", "failed", "undeliverable")))
            .group_by(Message.channel, Message.status))).all()
        for channel, status, count in rows:
            outbox.add_metric([channel, status], count)
        rows = (await session.execute(
            select(Case.status, func.count(Case.id)).where(Case.closed_at.is_(None)).group_by(Case.status))).all()
        for status, count in rows:
            cases.add_metric([status], count)
        families.extend(await _broadcast_families(session))
    return families


async def _broadcast_families(session: Any) -> list[Any]:
    """Broadcast progress from the broadcast room's tables (`broadcasts`, `broadcast_deliveries`), read with
    plain SQL so a schema change there cannot break /metrics (the query failing just leaves them out)."""
    names = await session.run_sync(lambda s: set(inspect(s.connection()).get_table_names()))
    by_status = GaugeMetricFamily("hajibot_broadcasts", "Broadcasts by status", labels=["status"])
    deliveries = GaugeMetricFamily("hajibot_broadcast_deliveries",
                                   "Deliveries of unfinished broadcasts by broadcast and status",
                                   labels=["broadcast", "status"])
    table, recipients = BROADCAST_TABLES
    if table not in names or recipients not in names:
        return [by_status, deliveries]
    try:
        for status, count in (await session.execute(text(
                f"SELECT status, count(*) FROM {table} GROUP BY status"))).all():
            by_status.add_metric([str(status)], count)
        for broadcast_id, status, count in (await session.execute(text(
                f"SELECT d.broadcast_id, d.status, count(*) FROM {recipients} d JOIN {table} b "
                f"ON b.id = d.broadcast_id WHERE b.finished_at IS NULL GROUP BY d.broadcast_id, d.status"))).all():
            deliveries.add_metric([str(broadcast_id), str(status)], count)
    except Exception:
        log.warning("broadcast metrics query failed")
        await session.rollback()
    return [by_status, deliveries]


BROADCAST_TABLES = ("broadcasts", "broadcast_deliveries")


async def render(db: Database | None) -> bytes:
    """The /metrics body: process metrics, then database gauges (skipped when the database is down)."""
    body = generate_latest(REGISTRY)
    if db is not None:
        started = time.perf_counter()
        try:
            body += generate_latest(_Families(await database_families(db)))  # type: ignore[arg-type]
        except Exception as exc:
            log.warning("metrics: database gauges unavailable (%s)", type(exc).__name__)
        body += f"# HELP hajibot_metrics_db_seconds Time to read the database gauges\n" \
                f"# TYPE hajibot_metrics_db_seconds gauge\nhajibot_metrics_db_seconds " \
                f"{time.perf_counter() - started:.6f}\n".encode()
    return body


async def metrics_view(request: web.Request) -> web.Response:
    from bot.health import SERVICES_KEY

    services = request.app.get(SERVICES_KEY)
    body = await render(services.db if services is not None else None)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def setup_routes(app: web.Application, services: Any) -> None:
    app.router.add_get("/metrics", metrics_view)
