"""Liveness (/healthz: the process answers) and readiness (/readyz: database reachable, schema at the latest
migration, NLU model loaded). A load balancer sends traffic only to ready processes."""
from __future__ import annotations

import asyncio
import logging
import time

from aiohttp import web
from sqlalchemy import text

from bot.core.metrics import SUPPRESSED_ERRORS
from bot.services import Services
from storage.schema_version import is_current

log = logging.getLogger(__name__)
SERVICES_KEY: web.AppKey[Services] = web.AppKey("services", Services)
CHECK_TIMEOUT_SECONDS = 3.0
MIGRATIONS_CACHE_SECONDS = 30.0
_migrations_ok_at: dict[int, float] = {}  # id(engine) -> when the schema was last seen current


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _database_checks(services: Services) -> tuple[bool, bool]:
    async with services.db.engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
    key = id(services.db.engine)
    if time.monotonic() - _migrations_ok_at.get(key, -1e9) < MIGRATIONS_CACHE_SECONDS:
        return True, True
    current = await is_current(services.db.engine)
    if current:
        _migrations_ok_at[key] = time.monotonic()
    return True, current


async def readyz(request: web.Request) -> web.Response:
    services = request.app[SERVICES_KEY]
    checks: dict[str, bool] = {}
    try:
        checks["database"], checks["migrations"] = await asyncio.wait_for(
            _database_checks(services), CHECK_TIMEOUT_SECONDS)
    except Exception as exc:
        SUPPRESSED_ERRORS.labels("readyz_database").inc()
        log.warning("readyz: database check failed (%s)", type(exc).__name__)
        checks["database"] = False
        checks["migrations"] = False
    checks["nlu"] = services.nlu.is_ready()
    ready = all(checks.values())
    return web.json_response({"ready": ready, "checks": checks}, status=200 if ready else 503)


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
