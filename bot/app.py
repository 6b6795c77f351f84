"""The aiohttp application: web chat, channel webhooks, NLU API, health, back office."""
from __future__ import annotations

import logging

from aiohttp import web

from bot import health, nlu_api
from bot.services import Services

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 32 * 1024 * 1024  # a 10 MB document as base64 JSON fits with room to spare


def create_app(services: Services) -> web.Application:
    """Wire every room's routes onto one application; start/stop workers with it."""
    app = web.Application(client_max_size=MAX_REQUEST_BYTES, middlewares=[security_headers])
    app[health.SERVICES_KEY] = services
    health.setup_routes(app)
    nlu_api.setup_routes(app)
    for channel in services.channels.values():
        channel.setup_routes(app)
    _setup_optional_rooms(app, services)
    app.on_startup.append(_on_startup)
    app.on_cleanup.append(_on_cleanup)
    return app


def _setup_optional_rooms(app: web.Application, services: Services) -> None:
    """Back office and broadcast add their routes when present."""
    from bot import extensions

    for setup in extensions.route_setups():
        setup(app, services)


@web.middleware
async def security_headers(request: web.Request, handler):  # type: ignore[no-untyped-def]
    response = await handler(request)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


async def _on_startup(app: web.Application) -> None:
    services = app[health.SERVICES_KEY]
    for channel in services.channels.values():
        await channel.start()
    await services.pipeline.recover()
    services.outbox.start()
    log.info("service started: channels=%s nlu=%s", ",".join(services.channels), services.nlu.name)


async def _on_cleanup(app: web.Application) -> None:
    await app[health.SERVICES_KEY].close()
