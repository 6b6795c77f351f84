"""Log-in and log-out pages."""
from __future__ import annotations

import math
import time

from aiohttp import web

from bot.backoffice import audit
from bot.backoffice.auth import COOKIE_NAME, check_login, close_session, mask_username, open_session
from bot.backoffice.texts import staff_text
from bot.backoffice.throttle import client_ip
from bot.backoffice.web_common import (
    LOGIN_CSRF_COOKIE, PREFIX, bo, current_staff, form, forbidden_csrf, new_login_csrf, now_utc, redirect, render, safe_next, set_cookie,
    tokens_match,
)


async def login_page(request: web.Request, error: str = "", status: int = 200) -> web.Response:
    token = new_login_csrf()
    response = render(request, "login.jinja2", {"login_csrf": token, "error": error,
                                                "next": safe_next(request.query.get("next"))}, status=status)
    set_cookie(request, response, LOGIN_CSRF_COOKIE, token, max_age=3600)
    return response


async def login_submit(request: web.Request) -> web.StreamResponse:
    data = await form(request)
    if not tokens_match(data.get("csrf_token"), request.cookies.get(LOGIN_CSRF_COOKIE)):
        return forbidden_csrf(request)
    context = bo(request)
    username = data.get("username", "")[:80]
    password = data.get("password", "")[:200]
    ip = client_ip(request, context.settings.trusted_proxies)
    async with context.services.db.session() as session:
        result = await check_login(session, context.throttle, username, password, ip, time.monotonic())
        if result.wait_seconds > 0:
            seconds = math.ceil(result.wait_seconds)
            response = await login_page(request, staff_text("login_throttled", seconds=seconds), status=429)
            response.headers["Retry-After"] = str(seconds)
            return response
        if result.staff is None:
            audit.record(session, f"login:{mask_username(username)}", "staff.login_failed", ip=ip)
            await session.commit()
            return await login_page(request, staff_text("login_failed"), status=401)
        now = now_utc()
        token = await open_session(session, context.keys, result.staff, context.settings, now)
        audit.record(session, f"staff:{result.staff.username}", "staff.login", ip=ip)
        await session.commit()
    response = redirect(safe_next(data.get("next")))
    set_cookie(request, response, COOKIE_NAME, token)
    response.del_cookie(LOGIN_CSRF_COOKIE, path=PREFIX)
    return response


async def logout(request: web.Request) -> web.StreamResponse:
    context = bo(request)
    async with context.services.db.session() as session:
        await close_session(session, context.keys, request.cookies.get(COOKIE_NAME, ""))
        audit.record(session, f"staff:{current_staff(request).username}", "staff.logout")
        await session.commit()
    response = redirect(f"{PREFIX}/login")
    response.del_cookie(COOKIE_NAME, path=PREFIX)
    return response
