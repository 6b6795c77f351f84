"""Every staff member's own account: change password."""
from __future__ import annotations

from aiohttp import web

from bot.backoffice import audit
from bot.backoffice.auth import COOKIE_NAME, open_session
from bot.backoffice.passwords import verify_password_async
from bot.backoffice.staff_accounts import AccountError, set_password
from bot.backoffice.texts import staff_text
from bot.backoffice.web_common import PREFIX, bo, current_staff, form, now_utc, redirect, render, set_cookie
from storage.models import StaffUser


async def account_page(request: web.Request, error: str = "") -> web.Response:
    return render(request, "account.jinja2", {"error": error})


async def change_password(request: web.Request) -> web.Response:
    """Needs the current password; ends every session, then opens a fresh one for this browser."""
    context = bo(request)
    me = current_staff(request)
    data = await form(request)
    if data.get("new_password", "") != data.get("new_password2", ""):
        return await account_page(request, staff_text("password_mismatch"))
    async with context.services.db.session() as session:
        staff = await session.get(StaffUser, me.id)
        assert staff is not None
        if not await verify_password_async(staff.password_hash, data.get("current_password", "")[:200]):
            return await account_page(request, staff_text("current_password_wrong"))
        try:
            await set_password(session, staff, data.get("new_password", ""))
        except AccountError as exc:
            return await account_page(request, staff_text(exc.code))
        token = await open_session(session, context.keys, staff, context.settings, now_utc())
        audit.record(session, f"staff:{staff.username}", "staff.password_changed")
        await session.commit()
    response = redirect(f"{PREFIX}/account", msg="done_password_changed")
    set_cookie(request, response, COOKIE_NAME, token)
    return response
