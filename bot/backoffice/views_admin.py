"""Admin pages: staff accounts, API tokens, audit log, webhook deliveries, porsi registry upload."""
from __future__ import annotations

from aiohttp import web
from sqlalchemy import func, select

from bot.backoffice import audit
from bot.backoffice.staff_accounts import AccountError, create_staff, create_token, set_active, set_password
from bot.backoffice.texts import staff_text
from bot.backoffice.web_common import (
    PREFIX, bo, current_staff, form, int_param, now_utc, path_int, redirect, render, require_admin,
)
from storage.models import ApiToken, AuditLog, StaffUser, WebhookDelivery
from dialogues import offload
from storage.registry_import import RegistryFileError, count_pilgrims, import_registry, read_rows

MAX_REGISTRY_BYTES = 20 * 1024 * 1024
AUDIT_PAGE = 100


async def staff_page(request: web.Request, token: str = "", error: str = "") -> web.Response:
    require_admin(request)
    async with bo(request).services.db.session() as session:
        members = (await session.execute(select(StaffUser).order_by(StaffUser.username))).scalars().all()
        tokens = (await session.execute(select(ApiToken).order_by(ApiToken.id.desc()))).scalars().all()
    return render(request, "staff.jinja2", {"members": members, "tokens": tokens, "new_token": token,
                                            "error": error})


async def staff_add(request: web.Request) -> web.Response:
    require_admin(request)
    me = current_staff(request)
    data = await form(request)
    if data.get("password", "") != data.get("password2", ""):
        return await staff_page(request, error=staff_text("password_mismatch"))
    async with bo(request).services.db.session() as session:
        try:
            member = await create_staff(session, data.get("username", ""), data.get("display_name", ""),
                                        data.get("role", ""), data.get("password", ""))
        except AccountError as exc:
            return await staff_page(request, error=staff_text(exc.code))
        audit.record(session, f"staff:{me.username}", "staff.add", username=member.username, role=member.role)
        await session.commit()
    return redirect(f"{PREFIX}/staff", msg="done_staff_added")


async def staff_update(request: web.Request) -> web.Response:
    """One change per submit: role, active, unlock or password."""
    require_admin(request)
    me = current_staff(request)
    staff_id = path_int(request, "staff_id")
    data = await form(request)
    change = data.get("change", "")
    async with bo(request).services.db.session() as session:
        member = await session.get(StaffUser, staff_id)
        if member is None:
            raise web.HTTPNotFound(text=staff_text("not_found"))
        try:
            if change == "role" and data.get("role") in ("admin", "petugas"):
                if member.id == me.id:
                    raise AccountError("cannot_disable_self")
                member.role = data["role"]
            elif change in ("disable", "enable"):
                if member.id == me.id:
                    raise AccountError("cannot_disable_self")
                await set_active(session, member, change == "enable")
            elif change == "unlock":
                member.failed_logins = 0
                member.locked_until = None
                bo(request).throttle.clear_account(member.username)
            elif change == "password":
                if data.get("password", "") != data.get("password2", ""):
                    raise AccountError("password_mismatch")
                await set_password(session, member, data.get("password", ""))
                bo(request).throttle.clear_account(member.username)
            else:
                raise AccountError("invalid_input")
        except AccountError as exc:
            await session.rollback()
            return await staff_page(request, error=staff_text(exc.code))
        audit.record(session, f"staff:{me.username}", f"staff.{change}", username=member.username,
                     role=data.get("role") if change == "role" else None)
        await session.commit()
    return redirect(f"{PREFIX}/staff", msg="done_staff_updated")


async def token_add(request: web.Request) -> web.Response:
    require_admin(request)
    me = current_staff(request)
    data = await form(request)
    async with bo(request).services.db.session() as session:
        try:
            row, plain = await create_token(session, data.get("name", ""), data.get("scope", ""), me.id)
        except AccountError as exc:
            return await staff_page(request, error=staff_text(exc.code))
        audit.record(session, f"staff:{me.username}", "token.create", token_id=row.id, name=row.name, scope=row.scope)
        await session.commit()
    return await staff_page(request, token=plain)


async def token_revoke(request: web.Request) -> web.Response:
    require_admin(request)
    me = current_staff(request)
    token_id = path_int(request, "token_id")
    async with bo(request).services.db.session() as session:
        row = await session.get(ApiToken, token_id)
        if row is None:
            raise web.HTTPNotFound(text=staff_text("not_found"))
        row.active = False
        audit.record(session, f"staff:{me.username}", "token.revoke", token_id=row.id, name=row.name)
        await session.commit()
    return redirect(f"{PREFIX}/staff", msg="done_token_revoked")


async def audit_page(request: web.Request) -> web.Response:
    require_admin(request)
    page = max(1, int_param(request.query.get("page"), 1) or 1)
    actor = request.query.get("actor", "").strip()[:100]
    action = request.query.get("action", "").strip()[:60]
    case_id = int_param(request.query.get("case_id"))
    query = select(AuditLog)
    count = select(func.count(AuditLog.id))
    for column, value in ((AuditLog.actor, actor), (AuditLog.action, action)):
        if value:
            query, count = query.where(column == value), count.where(column == value)
    if case_id:
        query, count = query.where(AuditLog.case_id == case_id), count.where(AuditLog.case_id == case_id)
    async with bo(request).services.db.session() as session:
        total = int((await session.execute(count)).scalar_one())
        rows = (await session.execute(query.order_by(AuditLog.id.desc()).limit(AUDIT_PAGE)
                                      .offset((page - 1) * AUDIT_PAGE))).scalars().all()
        actions = sorted((await session.execute(select(AuditLog.action).distinct())).scalars().all())
    return render(request, "audit.jinja2", {"rows": rows, "page": page, "pages": max(1, -(-total // AUDIT_PAGE)),
                                            "actor": actor, "action": action, "case_id": case_id or "",
                                            "actions": actions, "tz": bo(request).rules.tz})


async def webhooks_page(request: web.Request) -> web.Response:
    require_admin(request)
    async with bo(request).services.db.session() as session:
        rows = (await session.execute(select(WebhookDelivery).order_by(WebhookDelivery.id.desc()).limit(200)
                                      )).scalars().all()
    context = bo(request)
    return render(request, "webhooks.jinja2", {"rows": rows, "enabled": context.webhooks.enabled,
                                               "url": context.settings.webhook_url, "tz": context.rules.tz})


async def registry_page(request: web.Request, report: object = None, error: str = "") -> web.Response:
    require_admin(request)
    async with bo(request).services.db.session() as session:
        total = await count_pilgrims(session)
    return render(request, "registry.jinja2", {"total": total, "report": report, "error": error})


async def registry_upload(request: web.Request) -> web.Response:
    require_admin(request)
    me = current_staff(request)
    data = await request.post()
    upload = data.get("file")
    if not isinstance(upload, web.FileField):
        return await registry_page(request, error=staff_text("file_required"))
    content = upload.file.read(MAX_REGISTRY_BYTES + 1)
    if len(content) > MAX_REGISTRY_BYTES:
        return await registry_page(request, error=staff_text("file_too_large"))
    strict = data.get("strict") == "1"
    try:  # parsing 100,000 rows takes a second of CPU: in a worker process, not on the event loop
        parsed = await offload.run(read_rows, content)
    except RegistryFileError as exc:
        return await registry_page(request, error=f"{staff_text('registry_file_error')} {exc}")
    except offload.OffloadError:
        return await registry_page(request, error=staff_text("registry_file_error"))
    async with bo(request).services.db.session() as session:
        report = await import_registry(session, content, strict=strict, parsed=parsed,
                                       actor=f"staff:{me.username}", source="backoffice")
        audit.record(session, f"staff:{me.username}", "registry.import", rows=report.rows_read,
                     imported=report.imported, errors=len(report.errors), strict=strict,
                     committed=report.committed, import_id=report.import_id, updates=report.updates)
        await session.commit()
    return await registry_page(request, report=report)


async def webhook_retry(request: web.Request) -> web.Response:
    """Put a given-up (or waiting) delivery back in the queue, due now."""
    require_admin(request)
    me = current_staff(request)
    delivery_id = path_int(request, "delivery_id")
    context = bo(request)
    async with context.services.db.session() as session:
        delivery = await session.get(WebhookDelivery, delivery_id)
        if delivery is None:
            raise web.HTTPNotFound(text=staff_text("not_found"))
        if delivery.status != "delivered":
            delivery.status = "pending"
            delivery.next_attempt_at = now_utc()
            audit.record(session, f"staff:{me.username}", "webhook.retry", case_id=delivery.case_id,
                         delivery_id=delivery.id)
            await session.commit()
    context.webhooks.wake()
    return redirect(f"{PREFIX}/webhooks", msg="done_webhook_retry")
