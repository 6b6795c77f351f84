"""Rooms that add routes to the app besides the channels (back office, broadcast, metrics).

Each room exposes `setup_routes(app, services)`; add one import line per room below.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

RouteSetup = Callable[[Any, Any], None]


def route_setups() -> list[RouteSetup]:
    setups: list[RouteSetup] = []
    from bot.ops import setup_routes as ops_routes; setups.append(ops_routes)  # /metrics, middleware, jobs
    from bot.backoffice import setup_routes as backoffice_routes
    setups.append(backoffice_routes)
    from bot.broadcast.web import setup_routes as broadcast_routes; setups.append(broadcast_routes)  # after back office
    from bot.docread import setup_routes as docread_routes; setups.append(docread_routes)  # OCR of KTP/KK photos
    from bot.updates.web import setup_routes as update_routes; setups.append(update_routes)  # after back office
    return setups
