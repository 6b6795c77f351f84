"""Broadcast pages under /backoffice/broadcasts (composer, progress, actions, failed CSV) and the fan-out
worker's start/stop with the app. Reuses the back office's session/CSRF middleware and base template."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.backoffice.routes import room_pages_app
from bot.backoffice.context import BACKOFFICE_KEY
from bot.backoffice.web_common import bo, current_staff, path_int, render
from bot.broadcast import service, tier
from bot.broadcast.audience import Segment, count
from bot.broadcast.delivery import test_send
from bot.broadcast.receipts import listen_to_whatsapp_receipts
from bot.broadcast.render import TemplateError, check_template
from bot.broadcast.settings import BroadcastSettings
from bot.broadcast.planner import Plan
from bot.broadcast.texts import duration, fill_season, number, ready_templates, season_fields, staff_text, staff_texts
from bot.broadcast.worker import BroadcastWorker
from storage.broadcast_models import Broadcast

HERE = Path(__file__).resolve().parent
PREFIX = "/backoffice/broadcasts"
ATTACHMENT_TYPES = ("image/jpeg", "image/png", "application/pdf")
WORKER_KEY: web.AppKey[BroadcastWorker] = web.AppKey("broadcast_worker", BroadcastWorker)
ACTIONS = ("submit", "approve", "pause", "resume", "cancel", "test")
CONFIRMED_ACTIONS = ("submit", "approve")  # only after the confirmation page showed the audience size


def setup_routes(app: web.Application, services: Any) -> None:
    """Worker with the app; pages when the back office is mounted (it provides login and CSRF)."""
    config = services.settings.config.broadcast
    worker = BroadcastWorker(services.db, services.channels, config,
                             limits=tier.limits_for(services.settings.config))
    app[WORKER_KEY] = worker
    if "whatsapp" in services.channels:
        listen_to_whatsapp_receipts(services.channels["whatsapp"], services.db)

    async def start(_: web.Application) -> None:
        if config.worker_enabled:
            worker.start()

    async def stop(_: web.Application) -> None:
        await worker.stop()

    app.on_startup.append(start)
    app.on_cleanup.insert(0, stop)

    if BACKOFFICE_KEY in app:
        app.add_subapp(PREFIX, create_pages_app(app[BACKOFFICE_KEY]))


def create_pages_app(context: Any) -> web.Application:
    sub, env = room_pages_app(context, HERE / "templates")
    env.filters.update(duration=duration, num=number)
    env.globals["T"] = staff_texts()
    r = sub.router
    r.add_get("", list_page)
    r.add_get("/new", new_page)
    r.add_post("/new", new_submit)
    r.add_get("/{broadcast_id}", show_page)
    r.add_get("/{broadcast_id}/confirm", confirm_page)
    r.add_get("/{broadcast_id}/progress.json", progress_json)
    r.add_get("/{broadcast_id}/failed.csv", failed_csv)
    r.add_post("/{broadcast_id}/{action}", action)
    return sub


# helpers --------------------------------------------------------------------------------------------
def _ctx(request: web.Request) -> Any:
    return bo(request)


def _staff(request: web.Request) -> Any:
    return current_staff(request)


def _actor(request: web.Request) -> str:
    return f"staff:{_staff(request).username}"


def _split(value: str) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def _int(value: str) -> int | None:
    try:
        return int(value) if (value or "").strip() else None
    except ValueError:
        return None


def segment_from_form(data: dict[str, str], channels: list[str], settings: BroadcastSettings) -> Segment:
    """The segment the composer describes, with the exclusions from the settings (not editable in the form)."""
    audience = data.get("audience", "all")
    return Segment(audience=audience if audience in ("all", "subscribers", "linked") else "all",
                   channels=channels, estimasi_from=_int(data.get("estimasi_from", "")),
                   estimasi_to=_int(data.get("estimasi_to", "")), statuses=_split(data.get("statuses", "")),
                   kab_kota=_split(data.get("kab_kota", "")), kecamatan=_split(data.get("kecamatan", "")),
                   case_statuses=_split(data.get("case_statuses", "")),
                   exclude_porsi_statuses=list(settings.excluded_porsi_statuses),
                   exclude_case_services=list(settings.excluded_case_services))


def _settings(request: web.Request) -> BroadcastSettings:
    return _ctx(request).services.settings.config.broadcast


def _parse_local(value: str, tz: Any) -> datetime | None:
    value = (value or "").strip().replace("T", " ")
    if not value:
        return None
    local = datetime.strptime(value, "%Y-%m-%d %H:%M").replace(tzinfo=tz)
    return local.astimezone(timezone.utc)


def _render(request: web.Request, template: str, context: dict[str, Any], status: int = 200) -> web.Response:
    return render(request, template, context, status)


def _broadcast_id(request: web.Request) -> int:
    return path_int(request, "broadcast_id")


# pages ----------------------------------------------------------------------------------------------
async def list_page(request: web.Request) -> web.Response:
    async with _ctx(request).services.db.session() as session:
        items = await service.listing(session, 100)
    return _render(request, "broadcasts.jinja2", {"items": items})


def _form_defaults(season: dict[str, str], template_key: str = "") -> dict[str, Any]:
    ready = ready_templates(season).get(template_key)
    return {"title": ready.title if ready else "", "text": ready.text if ready else "", "template_key": template_key,
            "audience": "all", "estimasi_from": "", "estimasi_to": "", "statuses": "", "kab_kota": "",
            "kecamatan": "", "case_statuses": "", "scheduled_at": "", "channels": [], "preview_porsi": ""}


async def new_page(request: web.Request) -> web.Response:
    return await _composer(request, _form_defaults(_settings(request).season, request.query.get("template", "")))


async def _composer(request: web.Request, values: dict[str, Any], error: str = "", counts: dict[str, int] | None = None,
                    preview: str | None = None, status: int = 200) -> web.Response:
    ctx = _ctx(request)
    return _render(request, "broadcast_new.jinja2", {
        "v": values, "error": error, "counts": counts, "preview": preview,
        "templates": ready_templates(ctx.services.settings.config.broadcast.season),
        "channel_names": sorted(n for n in ctx.services.channels), "require_approval":
            ctx.services.settings.config.broadcast.require_approval}, status=status)


async def new_submit(request: web.Request) -> web.Response:
    ctx = _ctx(request)
    data = await request.post()
    season = _settings(request).season
    values = {**_form_defaults(season), **{k: v for k, v in data.items() if isinstance(v, str) and k != "channels"}}
    values["channels"] = [v for v in data.getall("channels", []) if isinstance(v, str)]
    op = values.get("op", "save")
    if op == "template":
        ready = ready_templates(season).get(values.get("template_key", ""))
        if ready:
            values.update(title=ready.title, text=ready.text)
        return await _composer(request, values)
    values["text"], values["title"] = fill_season(values.get("text", ""), season), fill_season(values["title"], season)
    missing = sorted(set(season_fields(values["text"]) + season_fields(values["title"])))
    try:
        segment = segment_from_form(values, values["channels"], _settings(request))
        check_template(values["text"], allow=missing)
    except TemplateError as exc:
        return await _composer(request, values, staff_text("error_variable", name=exc.name or str(exc)), status=400)
    except ValueError as exc:
        return await _composer(request, values, str(exc)[:200], status=400)
    async with ctx.services.db.session() as session:
        counts = await count(session, segment)
        if missing:
            names = ", ".join("{" + n + "}" for n in missing)
            return await _composer(request, values, staff_text("error_season", names=names), counts=counts, status=400)
        if op in ("count", "preview"):
            shown = (await service.preview(session, values.get("text", ""), segment, values.get("preview_porsi", ""))
                     if op == "preview" else None)
            text = shown[1] if shown else (staff_text("preview_none") if op == "preview" else None)
            return await _composer(request, values, counts=counts, preview=text)
        try:
            scheduled = _parse_local(values.get("scheduled_at", ""), ctx.rules.tz)
        except ValueError:
            return await _composer(request, values, staff_text("error_schedule"), counts=counts, status=400)
        attachment = await _attachment(ctx, data.get("attachment"))
        if attachment == "invalid":
            max_mb = ctx.services.settings.config.broadcast.max_attachment_bytes // (1024 * 1024)
            return await _composer(request, values, staff_text("error_attachment", max_mb=max_mb), status=400)
        try:
            broadcast = await service.create(
                session, title=values.get("title", ""), text=values.get("text", ""), segment=segment,
                actor=_actor(request), staff_id=_staff(request).id, template_key=values.get("template_key") or None,
                attachment=attachment, scheduled_at=scheduled, season=season)
        except service.BroadcastError as exc:
            return await _composer(request, values, staff_text(exc.key, **exc.values), counts=counts, status=400)
    raise web.HTTPSeeOther(f"{PREFIX}/{broadcast.id}")


async def _attachment(ctx: Any, field: Any) -> dict[str, Any] | str | None:
    if not isinstance(field, web.FileField):
        return None
    data = field.file.read(ctx.services.settings.config.broadcast.max_attachment_bytes + 1)
    if not data:
        return None
    if len(data) > ctx.services.settings.config.broadcast.max_attachment_bytes:
        return "invalid"
    stored = await ctx.services.files.put(data, field.filename or "")
    if stored.content_type not in ATTACHMENT_TYPES:
        return "invalid"
    return stored.to_json()


def _limits(request: web.Request) -> Any:
    return tier.limits_for(_ctx(request).services.settings.config)


async def _plan_of(request: web.Request, session: Any, broadcast: Broadcast) -> Plan | None:
    """The stored schedule once the worker planned it; before that (also just after the officer confirmed, while
    the worker has not picked the broadcast up yet), what it would be now."""
    if broadcast.plan:
        return Plan.from_json(broadcast.plan)
    if broadcast.status in ("draft", "pending_approval", "scheduled", "running"):
        return await tier.forecast(session, broadcast, _limits(request), service.now_utc())
    return None


async def show_page(request: web.Request) -> web.Response:
    broadcast_id = _broadcast_id(request)
    async with _ctx(request).services.db.session() as session:
        broadcast = await _get(session, broadcast_id)
        progress = await service.progress(session, broadcast_id)
        plan = await _plan_of(request, session, broadcast)
    return _render(request, "broadcast_show.jinja2", {
        "b": broadcast, "p": progress, "segment": Segment.model_validate(broadcast.segment or {}), "plan": plan,
        "result": request.query.get("result", ""),
        "can_approve": broadcast.status == "pending_approval" and broadcast.created_by != _actor(request)})


async def confirm_page(request: web.Request) -> web.Response:
    """Before sending or approving: how many people will get it, per channel, and how long it will take (over
    several days when WhatsApp's tier is smaller than the audience)."""
    broadcast_id = _broadcast_id(request)
    name = request.query.get("action", "submit")
    if name not in ("submit", "approve"):
        raise web.HTTPNotFound(text="not found")
    ctx = _ctx(request)
    try:
        when = _parse_local(request.query.get("scheduled_at", "")[:20], ctx.rules.tz)
    except ValueError:
        when = None
    async with ctx.services.db.session() as session:
        broadcast = await _get(session, broadcast_id)
        counts = await service.audience_size(session, broadcast)
        plan = await tier.forecast(session, broadcast, _limits(request), service.now_utc(), at=when)
    needs_approval = name == "submit" and _staff(request).role != "admin"
    return _render(request, "broadcast_confirm.jinja2", {
        "b": broadcast, "action": name, "counts": counts, "needs_approval": needs_approval, "plan": plan,
        "scheduled_at": request.query.get("scheduled_at", "")[:20], "result": request.query.get("result", "")})


async def _get(session: Any, broadcast_id: int) -> Broadcast:
    try:
        return await service.get(session, broadcast_id)
    except service.BroadcastError:
        raise web.HTTPNotFound(text="not found") from None


async def progress_json(request: web.Request) -> web.Response:
    broadcast_id = _broadcast_id(request)
    async with _ctx(request).services.db.session() as session:
        await _get(session, broadcast_id)
        progress = await service.progress(session, broadcast_id)
    return web.json_response(progress.as_dict())


async def failed_csv(request: web.Request) -> web.StreamResponse:
    broadcast_id = _broadcast_id(request)
    response = web.StreamResponse(headers={
        "Content-Type": "text/csv; charset=utf-8",
        "Content-Disposition": f'attachment; filename="broadcast-{broadcast_id}-gagal.csv"'})
    async with _ctx(request).services.db.session() as session:
        await _get(session, broadcast_id)
        await response.prepare(request)
        async for chunk in service.failed_csv_chunks(session, broadcast_id):
            await response.write(chunk.encode("utf-8"))
    await response.write_eof()
    return response


async def action(request: web.Request) -> web.Response:
    ctx = _ctx(request)
    broadcast_id = _broadcast_id(request)
    name = request.match_info["action"]
    if name not in ACTIONS:
        raise web.HTTPNotFound(text="not found")
    data = await request.post()
    actor = _actor(request)
    result = ""
    async with ctx.services.db.session() as session:
        broadcast = await _get(session, broadcast_id)
        if name in CONFIRMED_ACTIONS:
            total = (await service.audience_size(session, broadcast))["total"]
            if str(data.get("confirmed_total", "")) != str(total):
                from urllib.parse import urlencode

                query = {"action": name, "scheduled_at": str(data.get("scheduled_at", ""))[:20]}
                if data.get("confirmed_total") is not None:
                    query["result"] = staff_text("error_audience_changed", total=total)
                raise web.HTTPSeeOther(f"{PREFIX}/{broadcast_id}/confirm?{urlencode(query)}")
        try:
            if name == "test":
                result = await _test(ctx, session, _staff(request).id, broadcast)
            elif name == "submit":
                when = _parse_local(str(data.get("scheduled_at", "")), ctx.rules.tz)
                await service.submit(session, broadcast_id, actor,
                                     ctx.services.settings.config.broadcast.require_approval, when,
                                     admin=_staff(request).role == "admin")
            elif name == "resume":
                await service.resume(session, broadcast_id, actor, _limits(request))
            else:
                await getattr(service, name)(session, broadcast_id, actor)
        except service.BroadcastError as exc:
            result = staff_text(exc.key, **exc.values) if exc.key != "not_found" else "not found"
        except ValueError:
            result = staff_text("error_schedule")
    worker = request.config_dict.get(WORKER_KEY)
    if worker is not None:
        worker.notify()
    location = f"{PREFIX}/{broadcast_id}"
    if result:
        from urllib.parse import quote

        location += f"?result={quote(result)}"
    raise web.HTTPSeeOther(location)


async def _test(ctx: Any, session: Any, staff_id: int, broadcast: Broadcast) -> str:
    conversation = await service.staff_chat(session, staff_id)
    if conversation is None:
        return staff_text("test_no_chat")
    outcome = await test_send(ctx.services.db, ctx.services.channels, conversation, broadcast)
    return staff_text("test_sent") if outcome.ok else staff_text("test_failed", error=outcome.error or "?")
