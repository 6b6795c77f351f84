"""The back office's routes: the staff pages at /backoffice and the integration API at /api/v1, with the webhook
sender and the service-level watch started and stopped with the app. `setup_routes(app, services)` mounts
everything; bot/extensions.py calls it."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web

from bot.backoffice import (
    views_account, views_admin, views_auth, views_cases, views_dashboard, views_documents, views_exports,
    views_inbox, views_letters, views_outbox,
)
from bot.backoffice.api import create_api_app
from bot.backoffice.context import BACKOFFICE_KEY, Backoffice
from bot.backoffice.sla_watch import SlaWatch
from bot.backoffice.web_common import PREFIX, backoffice_middleware

HERE = Path(__file__).resolve().parent


def template_filters(context: Backoffice) -> dict[str, Any]:
    tz = context.rules.tz

    def local(value: Any, fmt: str = "%d-%m-%Y %H.%M") -> str:
        return value.astimezone(tz).strftime(fmt) if value is not None else "-"

    def iso(value: Any) -> str:
        return value.isoformat() if value is not None else ""

    return {"local": local, "iso": iso}


def room_pages_app(context: Backoffice, templates: Path) -> tuple[web.Application, jinja2.Environment]:
    """A sub-app for another room's staff pages (broadcast, personal updates): the back office's sign-in and CSRF
    middleware, its layout templates behind the room's own, its filters."""
    sub = web.Application(middlewares=[backoffice_middleware])
    env = aiohttp_jinja2.setup(sub, loader=jinja2.ChoiceLoader([
        jinja2.FileSystemLoader(templates), jinja2.FileSystemLoader(HERE / "templates")]),
        autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters.update(template_filters(context))
    return sub, env


def create_staff_app(context: Backoffice) -> web.Application:
    sub = web.Application(middlewares=[backoffice_middleware])
    sub[BACKOFFICE_KEY] = context
    env = aiohttp_jinja2.setup(sub, loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                               undefined=jinja2.StrictUndefined)
    env.filters.update(template_filters(context))
    r = sub.router
    r.add_get("/login", views_auth.login_page)
    r.add_post("/login", views_auth.login_submit)
    r.add_post("/logout", views_auth.logout)
    r.add_get("/", _home)
    r.add_get("/cases", views_cases.queue_page)
    r.add_get("/cases.csv", views_cases.queue_csv)
    r.add_get("/cases/{case_id}", views_cases.case_page)
    r.add_post("/cases/{case_id}/action", views_cases.case_action)
    r.add_post("/cases/{case_id}/assign", views_cases.case_assign)
    r.add_post("/cases/{case_id}/appointment", views_cases.case_appointment)
    r.add_post("/cases/{case_id}/letters", views_letters.regenerate_letters)
    r.add_post("/cases/{case_id}/documents/{doc_id}/review", views_cases.document_review)
    r.add_get("/cases/{case_id}/export.pdf", views_exports.case_pdf)
    r.add_get("/documents/{doc_id}", views_documents.document_file)
    r.add_get("/messages/{message_id}/attachments/{index}", views_documents.message_attachment)
    r.add_get("/inbox", views_inbox.inbox_page)
    r.add_get("/inbox.json", views_inbox.inbox_json)
    r.add_get("/conversations/{conversation_id}", views_inbox.conversation_page)
    r.add_get("/conversations/{conversation_id}/messages.json", views_inbox.conversation_messages_json)
    r.add_post("/conversations/{conversation_id}/take", views_inbox.take_over)
    r.add_post("/conversations/{conversation_id}/reply", views_inbox.reply)
    r.add_post("/conversations/{conversation_id}/return", views_inbox.return_to_bot)
    r.add_get("/outbox", views_outbox.outbox_page)
    r.add_post("/outbox/{message_id}/resend", views_outbox.outbox_resend)
    r.add_get("/dashboard", views_dashboard.dashboard_page)
    r.add_get("/account", views_account.account_page)
    r.add_post("/account", views_account.change_password)
    r.add_get("/staff", views_admin.staff_page)
    r.add_post("/staff", views_admin.staff_add)
    r.add_post("/staff/{staff_id}", views_admin.staff_update)
    r.add_post("/tokens", views_admin.token_add)
    r.add_post("/tokens/{token_id}/revoke", views_admin.token_revoke)
    r.add_get("/audit", views_admin.audit_page)
    r.add_get("/webhooks", views_admin.webhooks_page)
    r.add_post("/webhooks/{delivery_id}/retry", views_admin.webhook_retry)
    r.add_get("/registry", views_admin.registry_page)
    r.add_post("/registry", views_admin.registry_upload)
    r.add_static("/static", HERE / "static", append_version=True)
    return sub


async def _home(request: web.Request) -> web.StreamResponse:
    return web.Response(status=303, headers={"Location": f"{PREFIX}/cases"})


def setup_routes(app: web.Application, services: Any) -> None:
    """Mount the staff pages at /backoffice and the API at /api/v1; run the webhook sender with the app."""
    context = Backoffice.build(services)
    app[BACKOFFICE_KEY] = context
    app.add_subapp(PREFIX, create_staff_app(context))
    app.add_subapp("/api/v1", create_api_app(context))
    app.router.add_get(PREFIX, _home)

    sla_watch = SlaWatch(context)  # service-level alerts and digest to the head of section

    async def start(_: web.Application) -> None:
        context.webhooks.start()
        sla_watch.start()

    async def stop(_: web.Application) -> None:
        await sla_watch.stop()
        await context.webhooks.stop()

    app.on_startup.append(start)
    app.on_cleanup.insert(0, stop)
