"""Prometheus metrics at /metrics (prometheus-client).

Two kinds:
- per-process counters/histograms updated on the message path (messages in/out per channel, processing
  latency, NLU results incl. fallbacks, HTTP requests and 503s) — each process exposes its own; Prometheus
  scrapes every process (sum them in queries);
- database-wide gauges (outbox backlog and failures, open cases per status, broadcast progress) read by a
  background job at most every `ops.metrics_refresh_seconds` — a scrape never queries the database; the
  same in every process, so use max() rather than sum() across processes.

Access: with HAJIBOT_METRICS_TOKEN set, /metrics on the service's port needs `Authorization: Bearer TOKEN`;
with `ops.metrics_listen` (host:port) a separate listener serves /metrics only, without a token (bind it to a
private address). Without either, /metrics is not served.
"""
from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Iterable
from typing import Any

from aiohttp import web
import prometheus_client
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from sqlalchemy import func, inspect, select, text

from storage.db import Database
from storage.models import Case, Message

log = logging.getLogger(__name__)

REGISTRY = CollectorRegistry(auto_describe=True)


class _KnownChildren:
    """labels() answers a label set seen before from the metric's own table of children, without
    prometheus_client's per-call work (a tuple of str() values and a lock: ~1.4 us, four times per message);
    a new label set, keyword labels or a table missing in another library version take the library's path."""

    def labels(self, *labelvalues: Any, **labelkwargs: Any) -> Any:
        try:
            child = self._metrics.get(labelvalues)  # type: ignore[attr-defined]  # keys: tuples of str
        except AttributeError:  # a child (labels() refuses it) or a library without the table
            child = None
        if child is None or labelkwargs:
            return super().labels(*labelvalues, **labelkwargs)  # type: ignore[misc]
        return child


class Counter(_KnownChildren, prometheus_client.Counter):
    pass


class Histogram(_KnownChildren, prometheus_client.Histogram):
    pass


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
SUPPRESSED_ERRORS = Counter("hajibot_suppressed_errors", "Errors handled without failing the request, by place",
                            ["where"], registry=REGISTRY)
STORAGE_FULL = Counter("hajibot_storage_full", "Attachments not stored because the disk was full",
                       registry=REGISTRY)


_HTTP_CHILDREN: dict[tuple[str, int], Any] = {}  # (route, status // 100) -> its labelled counter


def count_http_request(route: str, status: int) -> None:
    """One request in hajibot_http_requests; each (route, status class) child is looked up once."""
    key = (route, status // 100)
    child = _HTTP_CHILDREN.get(key)
    if child is None:
        child = _HTTP_CHILDREN[key] = HTTP_REQUESTS.labels(route, f"{status // 100}xx")
    child.inc()


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
            .where(Message.direction == "out",
                   Message.status.in_(("pending", "sending", "failed", "undeliverable", "maybe_sent")))
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
    names = await _table_names(session)
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
    except Exception as exc:
        SUPPRESSED_ERRORS.labels("metrics_broadcast").inc()
        log.warning("broadcast metrics query failed (%s)", type(exc).__name__)
        await session.rollback()
    return [by_status, deliveries]


BROADCAST_TABLES = ("broadcasts", "broadcast_deliveries")
_tables: set[str] = set()


async def _table_names(session: Any) -> set[str]:
    """The broadcast tables, looked up until they exist (then remembered)."""
    if not _tables.issuperset(BROADCAST_TABLES):
        _tables.update(await session.run_sync(lambda s: set(inspect(s.connection()).get_table_names())))
    return _tables


class DatabaseGauges:
    """The database-wide gauges, rendered once per refresh; scrapes serve the last rendering."""

    def __init__(self, db: Database | None, refresh_seconds: float) -> None:
        self.db = db
        self.refresh_seconds = refresh_seconds
        self.body = b""
        self.first_reading = asyncio.Event()  # set after the background job's first pass
        self._task: asyncio.Task[None] | None = None

    async def refresh(self) -> None:
        """Read the gauges now (one set of grouped counts); on failure keep the previous reading."""
        if self.db is None:
            return
        started = time.perf_counter()
        try:
            body = generate_latest(_Families(await database_families(self.db)))  # type: ignore[arg-type]
        except Exception as exc:
            SUPPRESSED_ERRORS.labels("metrics_gauges").inc()
            log.warning("metrics: database gauges unavailable (%s)", type(exc).__name__)
            return
        self.body = body + (
            "# HELP hajibot_metrics_db_seconds Time to read the database gauges\n"
            "# TYPE hajibot_metrics_db_seconds gauge\n"
            f"hajibot_metrics_db_seconds {time.perf_counter() - started:.6f}\n"
            "# HELP hajibot_metrics_db_read_timestamp When the database gauges were read (Unix time)\n"
            "# TYPE hajibot_metrics_db_read_timestamp gauge\n"
            f"hajibot_metrics_db_read_timestamp {time.time():.3f}\n").encode()

    async def _loop(self) -> None:
        while True:
            await self.refresh()
            self.first_reading.set()
            await asyncio.sleep(self.refresh_seconds)

    def start(self) -> None:
        if self.db is not None and self._task is None:
            self._task = asyncio.create_task(self._loop(), name="metrics-gauges")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None


GAUGES_KEY: web.AppKey[DatabaseGauges] = web.AppKey("metrics_gauges", DatabaseGauges)


def render(gauges: DatabaseGauges | None) -> bytes:
    """The /metrics body: process metrics, then the last reading of the database gauges."""
    return generate_latest(REGISTRY) + (gauges.body if gauges is not None else b"")


def _authorized(request: web.Request, token: str | None) -> bool:
    header = request.headers.get("Authorization", "")
    return bool(token) and header.startswith("Bearer ") and hmac.compare_digest(
        header[7:].strip().encode(), token.encode())  # type: ignore[union-attr]


def metrics_view(token: str | None) -> Any:
    """The handler: with a token, only `Authorization: Bearer TOKEN` gets the metrics."""

    async def view(request: web.Request) -> web.Response:
        if token is not None and not _authorized(request, token):
            return web.Response(status=401, text="unauthorized", headers={"WWW-Authenticate": "Bearer"})
        body = render(request.config_dict.get(GAUGES_KEY))
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    return view


def setup_routes(app: web.Application, services: Any) -> None:
    """/metrics on the service's port behind HAJIBOT_METRICS_TOKEN, and/or a token-less listener on
    `ops.metrics_listen`; the gauge refresh job runs with the app when /metrics is served."""
    ops = services.settings.config.ops
    token = services.settings.secrets.metrics_token
    gauges = DatabaseGauges(services.db, ops.metrics_refresh_seconds)
    app[GAUGES_KEY] = gauges
    if token:
        app.router.add_get("/metrics", metrics_view(token))
    elif not ops.metrics_listen:
        log.warning("/metrics is off: set HAJIBOT_METRICS_TOKEN or ops.metrics_listen")
    runner: list[web.AppRunner] = []

    async def start(_app: web.Application) -> None:
        if token or ops.metrics_listen:  # nobody can scrape otherwise: no reading every refresh for nobody
            gauges.start()
        if ops.metrics_listen:
            runner.append(await _listen(ops.metrics_listen, gauges))

    async def stop(_app: web.Application) -> None:
        await gauges.stop()
        for r in runner:
            await r.cleanup()

    app.on_startup.append(start)
    app.on_cleanup.insert(0, stop)


async def _listen(address: str, gauges: DatabaseGauges) -> web.AppRunner:
    """A separate listener (host:port) serving only /metrics."""
    host, _, port = address.rpartition(":")
    sub = web.Application()
    sub[GAUGES_KEY] = gauges
    sub.router.add_get("/metrics", metrics_view(None))
    runner = web.AppRunner(sub, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host.strip("[]") or "127.0.0.1", int(port)).start()
    log.info("metrics listening on %s", address)
    return runner
