"""Pages under /backoffice/updates (the batches of personal updates, one per registry import: counts, a sample
message, confirm or discard, then the summary) and the update sender's start/stop with the app."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiohttp import web

from bot.backoffice.context import BACKOFFICE_KEY
from bot.backoffice.routes import room_pages_app
from bot.backoffice.web_common import bo, current_staff, path_int, render
from bot.updates import service
from bot.updates.compose import missing_texts
from bot.updates.sender import UpdateSender
from bot.updates.texts import kind_label, label, staff_text, texts

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
PREFIX = "/backoffice/updates"
SENDER_KEY: web.AppKey[UpdateSender] = web.AppKey("update_sender", UpdateSender)


def setup_routes(app: web.Application, services: Any) -> None:
    """The sender with the app; the pages when the back office is mounted (it provides login and CSRF)."""
    config = services.settings.config
    sender = UpdateSender(services.db, services.engine, list(services.channels), config.updates, config.broadcast,
                          on_outbound=services.pipeline.on_outbound)
    app[SENDER_KEY] = sender
    missing = missing_texts(services.engine)
    if missing:
        log.error("personal updates are not sent: responses %s missing (dialogues/responses/kabar.yml)",
                  ", ".join(missing))

    async def start(_: web.Application) -> None:
        if config.updates.worker_enabled and not missing:
            sender.start()

    async def stop(_: web.Application) -> None:
        await sender.stop()

    app.on_startup.append(start)
    app.on_cleanup.insert(0, stop)
    if BACKOFFICE_KEY in app:
        app.add_subapp(PREFIX, create_pages_app(app[BACKOFFICE_KEY]))


def create_pages_app(context: Any) -> web.Application:
    sub, env = room_pages_app(context, HERE / "templates")
    env.globals.update(T=texts(), kind_label=kind_label, label=label)
    r = sub.router
    r.add_get("", list_page)
    r.add_get("/{import_id}", show_page)
    r.add_post("/{import_id}/{action}", action)
    return sub


def _ctx(request: web.Request) -> Any:
    return bo(request)


def _staff(request: web.Request) -> Any:
    return current_staff(request)


def _render(request: web.Request, template: str, context: dict[str, Any]) -> web.Response:
    return render(request, template, context)


def _channels(request: web.Request) -> list[str]:
    return list(_ctx(request).services.channels)


async def list_page(request: web.Request) -> web.Response:
    async with _ctx(request).services.db.session() as session:
        batches = await service.listing(session, 100)
    return _render(request, "updates.jinja2", {"batches": batches})


async def show_page(request: web.Request) -> web.Response:
    ctx = _ctx(request)
    import_id = path_int(request, "import_id")
    async with ctx.services.db.session() as session:
        try:
            summary = await service.summarize(session, import_id, ctx.services.settings.config.broadcast,
                                              _channels(request))
        except service.UpdateError:
            raise web.HTTPNotFound(text=staff_text("not_found")) from None
        sample = await service.sample_text(session, ctx.services.engine, import_id)
    return _render(request, "updates_show.jinja2", {
        "s": summary, "b": summary.batch, "sample": sample, "result": request.query.get("result", "")[:300],
        "is_admin": _staff(request).role == "admin"})


async def action(request: web.Request) -> web.Response:
    """`confirm` (with the number of chats the page showed) or `discard`."""
    ctx = _ctx(request)
    import_id = path_int(request, "import_id")
    name = request.match_info["action"]
    if name not in ("confirm", "discard"):
        raise web.HTTPNotFound(text=staff_text("not_found"))
    data = await request.post()
    staff = _staff(request)
    actor, admin = f"staff:{staff.username}", staff.role == "admin"
    result = ""
    async with ctx.services.db.session() as session:
        try:
            if name == "confirm":
                expected = str(data.get("confirmed_total", ""))
                await service.confirm(session, import_id, actor, ctx.services.settings.config.broadcast, admin=admin,
                                      expected_total=int(expected) if expected.isdigit() else -1,
                                      channels=_channels(request))
                result = staff_text("done_confirmed")
            else:
                await service.discard(session, import_id, actor, admin=admin)
                result = staff_text("done_discarded")
        except service.UpdateError as exc:
            if exc.key == "not_found":
                raise web.HTTPNotFound(text=staff_text("not_found")) from None
            result = staff_text(exc.key, **exc.values)
    sender = request.config_dict.get(SENDER_KEY)
    if sender is not None:
        sender.notify()
    raise web.HTTPSeeOther(f"{PREFIX}/{import_id}?result={quote(result)}")
