"""HTTP middleware for production operation: a request id for the logs, request metrics, and a fast
503 (with Retry-After) when the database is unreachable instead of a 500 or a hanging request.

A channel that got a 503 redelivers (Telegram, Twilio retry webhooks; the web chat page retries with the
same message_id), and the durable inbox makes the retry a no-op if the first attempt was stored.
"""
from __future__ import annotations

import asyncio
import errno
import logging
import secrets
from collections.abc import Awaitable, Callable

from aiohttp import web
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from bot.core.metrics import HTTP_UNAVAILABLE, count_http_request
from bot.core.privacy_log import REQUEST_ID

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
RETRY_AFTER_SECONDS = "2"
_NETWORK_ERRNOS = {errno.ECONNREFUSED, errno.ECONNRESET, errno.EPIPE, errno.ETIMEDOUT, errno.EHOSTUNREACH,
                   errno.ENETUNREACH, errno.ECONNABORTED}


def is_database_down(exc: BaseException) -> bool:
    """True for errors that mean 'database unreachable' (connection refused/lost, pool exhausted)."""
    if isinstance(exc, (OperationalError, InterfaceError, PoolTimeout, ConnectionError)):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, asyncio.TimeoutError):
        return True
    if isinstance(exc, OSError) and exc.errno in _NETWORK_ERRNOS:
        return True
    name = type(exc).__name__
    return name in ("ConnectionDoesNotExistError", "CannotConnectNowError", "InterfaceError",
                    "ConnectionFailureError", "TooManyConnectionsError")


def _route_name(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def request_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    request_id = request.headers.get("X-Request-Id", "")[:64] or secrets.token_hex(8)
    token = REQUEST_ID.set(request_id)
    route = _route_name(request)
    try:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            count_http_request(route, exc.status)
            raise
        except Exception as exc:
            count_http_request(route, 500)
            if not is_database_down(exc):
                raise
            HTTP_UNAVAILABLE.inc()
            log.warning("database unavailable (%s): answering 503", type(exc).__name__)
            response = web.json_response({"error": "service temporarily unavailable"}, status=503,
                                         headers={"Retry-After": RETRY_AFTER_SECONDS})
        else:
            count_http_request(route, response.status)
        response.headers["X-Request-Id"] = request_id
        return response
    finally:
        REQUEST_ID.reset(token)
