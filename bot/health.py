"""Liveness and readiness endpoints."""
from __future__ import annotations

from aiohttp import web
from sqlalchemy import text

from bot.services import Services
from storage.migrate import is_current

SERVICES_KEY: web.AppKey[Services] = web.AppKey("services", Services)


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    services = request.app[SERVICES_KEY]
    checks: dict[str, bool] = {}
    try:
        async with services.db.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        checks["database"] = True
        checks["migrations"] = await is_current(services.db.engine)
    except Exception:
        checks["database"] = False
        checks["migrations"] = False
    checks["nlu"] = services.nlu.is_ready()
    ready = all(checks.values())
    return web.json_response({"ready": ready, "checks": checks}, status=200 if ready else 503)


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
