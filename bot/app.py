"""The aiohttp application: web chat, channel webhooks, NLU API, health, back office."""
from __future__ import annotations

import asyncio
import gc
import logging

from aiohttp import web

from bot import extensions, health, nlu_api
from bot.backoffice.views_admin import MAX_REGISTRY_BYTES
from bot.services import Services
from bot.workers import WorkerPool

log = logging.getLogger(__name__)

KIB, MIB = 1024, 1024 * 1024
DEFAULT_BODY_BYTES = 1 * MIB  # forms, JSON APIs, /model/parse
WEBHOOK_BODY_BYTES = {"telegram": 1 * MIB, "whatsapp": 256 * KIB}  # updates carry file ids/URLs, not files
SELF_LIMITED = {("POST", "/webchat/messages")}  # streams its body against its own limit, answers politely
WORKERS_KEY = web.AppKey("workers", WorkerPool)
BODY_LIMITS_KEY = web.AppKey("body_limits", dict)


def body_limits(services: Services) -> dict[tuple[str, str], int]:
    """Request body limits per (method, route path); every other request gets DEFAULT_BODY_BYTES (except routes
    that stream and limit their body themselves).
    Sized to what each route legitimately carries, so no stranger makes the loop parse megabytes."""
    config = services.settings.config
    # POST /webchat/messages is not here: the web chat streams its body against its own limit (one document at
    # the upload limit) and refuses a larger one with a polite Indonesian answer (bot/channels/webchat.py)
    limits: dict[tuple[str, str], int] = {}
    telegram, whatsapp = config.channels.telegram, config.channels.whatsapp
    limits[("POST", telegram.webhook_path)] = WEBHOOK_BODY_BYTES["telegram"]
    limits[("POST", whatsapp.webhook_path)] = WEBHOOK_BODY_BYTES["whatsapp"]
    limits[("POST", whatsapp.status_callback_path)] = WEBHOOK_BODY_BYTES["whatsapp"]
    limits[("POST", "/backoffice/registry")] = MAX_REGISTRY_BYTES + 1 * MIB
    limits[("POST", "/backoffice/broadcasts/new")] = config.broadcast.max_attachment_bytes * 4 // 3 + 1 * MIB
    return limits


def create_app(services: Services, warm_workers: bool = False) -> web.Application:
    """Wire every room's routes onto one application; start/stop workers with it. `warm_workers`: start
    the worker processes with the service (`hajibot serve`) instead of at the first document."""
    limits = body_limits(services)
    app = web.Application(client_max_size=max(DEFAULT_BODY_BYTES, *limits.values()),
                          middlewares=[security_headers, body_limit])
    app[BODY_LIMITS_KEY] = limits
    app[WORKERS_KEY] = WorkerPool(warm=warm_workers)
    app[health.SERVICES_KEY] = services
    health.setup_routes(app)
    nlu_api.setup_routes(app)
    for channel in services.channels.values():
        channel.setup_routes(app)
    _setup_optional_rooms(app, services)
    app.on_startup.append(_on_startup)
    app.on_cleanup.append(_on_cleanup)
    return app


def freeze_startup_heap() -> None:
    """Move what start-up built (NLU model, dialogue data, ORM metadata: ~170,000 objects) out of the garbage
    collector's sight: it lives as long as the process, and a full collection then scans only what requests
    made instead of pausing every request for ~0.1 s. For the serving process (`hajibot serve`), not tests."""
    gc.collect()
    gc.freeze()


def _setup_optional_rooms(app: web.Application, services: Services) -> None:
    """Back office and broadcast add their routes when present."""
    for setup in extensions.route_setups():
        setup(app, services)


@web.middleware
async def body_limit(request: web.Request, handler):  # type: ignore[no-untyped-def]
    """Refuse a body larger than its route allows: at once when Content-Length says so, else while reading."""
    route = request.match_info.route.resource
    path = route.canonical if route is not None else request.path
    if (request.method, path) in SELF_LIMITED:
        return await handler(request)
    limit = request.app[BODY_LIMITS_KEY].get((request.method, path), DEFAULT_BODY_BYTES)
    if request.content_length is not None and request.content_length > limit:
        log.warning("request body refused: %d bytes for %s %s (limit %d)", request.content_length,
                    request.method, path, limit)
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=request.content_length)
    if request.method in ("POST", "PUT", "PATCH"):
        request = request.clone(client_max_size=limit)
    return await handler(request)


@web.middleware
async def security_headers(request: web.Request, handler):  # type: ignore[no-untyped-def]
    response = await handler(request)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


async def _on_startup(app: web.Application) -> None:
    services = app[health.SERVICES_KEY]
    app[WORKERS_KEY].start()  # CPU-heavy checks (documents, registry CSV) run in worker processes
    for channel in services.channels.values():
        await channel.start()
    await services.pipeline.recover()
    services.outbox.start()
    log.info("service started: channels=%s nlu=%s", ",".join(services.channels), services.nlu.name)


async def _on_cleanup(app: web.Application) -> None:
    await app[health.SERVICES_KEY].close()
    await asyncio.to_thread(app[WORKERS_KEY].stop)
