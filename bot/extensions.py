"""Rooms that add routes to the app besides the channels (back office, broadcast, metrics).

Each room exposes `setup_routes(app, services)`; add one import line per room below.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.backoffice.routes import setup_routes as backoffice_routes
from bot.broadcast.web import setup_routes as broadcast_routes
from bot.docread import setup_routes as docread_routes
from bot.ops import setup_routes as ops_routes
from bot.updates.web import setup_routes as update_routes

RouteSetup = Callable[[Any, Any], None]


def route_setups() -> list[RouteSetup]:
    setups: list[RouteSetup] = []
    setups.append(ops_routes)  # /metrics, middleware, jobs
    setups.append(backoffice_routes)
    setups.append(broadcast_routes)  # after back office
    setups.append(docread_routes)  # OCR of KTP/KK photos
    setups.append(update_routes)  # personal updates after a registry import; after back office
    return setups
