"""Reading identity documents (KTP/KK photos) with OCR, compared for staff with typed and registry data.

`reader` (Tesseract, pure, in the worker pool), `extract` (NIK/name from OCR text), `job` (the background
reader of submitted cases' documents), `compare` (warnings on the case page). `setup_routes(app, services)`
runs the job with the service (one line in bot/extensions.py)."""
from __future__ import annotations

from typing import Any

from aiohttp import web

from bot.docread.job import DocumentReader

READER_KEY = web.AppKey("document_reader", DocumentReader)


def setup_routes(app: web.Application, services: Any) -> None:
    """No routes: starts and stops the document reader with the app (OCR off when Tesseract is missing)."""
    reader = DocumentReader(services.db, services.files, services.engine.rules.document_reading)
    app[READER_KEY] = reader

    async def start(_: web.Application) -> None:
        await reader.start()

    async def stop(_: web.Application) -> None:
        await reader.stop()

    app.on_startup.append(start)
    app.on_cleanup.insert(0, stop)


def reader_of(request: web.Request) -> DocumentReader | None:
    """The app's document reader, from any sub-app's request (None when the room is not mounted)."""
    return request.config_dict.get(READER_KEY)
