"""Request plumbing for the staff pages: authentication, CSRF, security headers, safe redirects."""
from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp_jinja2
from aiohttp import web

from bot.backoffice.auth import COOKIE_NAME, load_session
from bot.backoffice.context import BACKOFFICE_KEY, Backoffice
from bot.backoffice.texts import staff_text
from storage.models import StaffSession, StaffUser

PREFIX = "/backoffice"
LOGIN_CSRF_COOKIE = "hajibot_login_csrf"
PUBLIC_PATHS = (f"{PREFIX}/login",)
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
CSP = ("default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
       "object-src 'self'; frame-src 'self'; frame-ancestors 'self'; form-action 'self'; base-uri 'none'")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
STAFF_KEY: web.RequestKey[StaffUser] = web.RequestKey("staff", StaffUser)
SESSION_KEY: web.RequestKey[StaffSession] = web.RequestKey("staff_session", StaffSession)
CSRF_KEY: web.RequestKey[str] = web.RequestKey("csrf_token", str)


def bo(request: web.Request) -> Backoffice:
    return request.config_dict[BACKOFFICE_KEY]


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


def current_staff(request: web.Request) -> StaffUser:
    return request[STAFF_KEY]


def safe_next(value: str | None) -> str:
    """Only same-site back-office paths are followed after log-in (no open redirect)."""
    default = f"{PREFIX}/cases"
    if not value or "\\" in value or any(ord(c) < 32 for c in value):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not parts.path.startswith(PREFIX + "/") or value.startswith("//"):
        return default
    if parts.path.startswith(f"{PREFIX}/login"):
        return default
    segments = parts.path.lower().replace("%2e", ".").split("/")
    if any(seg in (".", "..") for seg in segments):
        return default
    return value


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(f"{PREFIX}/static/")


def wants_json(request: web.Request) -> bool:
    return request.path.endswith(".json") or "application/json" in request.headers.get("Accept", "")


def set_cookie(request: web.Request, response: web.StreamResponse, name: str, value: str,
               max_age: int | None = None) -> None:
    secure = (bo(request).settings.secure_cookies or request.secure
              or request.headers.get("X-Forwarded-Proto", "").lower() == "https")
    response.set_cookie(name, value, httponly=True, samesite="Strict", path=PREFIX, max_age=max_age, secure=secure)


def new_login_csrf() -> str:
    return secrets.token_urlsafe(24)


def tokens_match(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(str(a), str(b))


async def form_token(request: web.Request) -> str | None:
    header = request.headers.get("X-CSRF-Token")
    if header:
        return header
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()
        value = form.get("csrf_token")
        return value if isinstance(value, str) else None
    return None


def _same_origin(request: web.Request) -> bool:
    """An `Origin` header, when the browser sends one, must name this host (ports are ignored because a
    reverse proxy may forward `Host` without its port)."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    host = urlsplit(f"//{request.host}").hostname
    return origin != "null" and urlsplit(origin).hostname == host


def forbidden_csrf(request: web.Request) -> web.Response:
    return web.Response(status=403, text=staff_text("csrf_failed"), content_type="text/plain", charset="utf-8")


@web.middleware
async def backoffice_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every back-office request: a live session (except log-in), CSRF on writes, no caching."""
    response = await _guarded(request, handler)
    response.headers["Cache-Control"] = "no-store"
    response.headers.setdefault("Content-Security-Policy", CSP)
    return response


async def _guarded(request: web.Request, handler: Handler) -> web.StreamResponse:
    if is_public(request.path):
        return await handler(request)
    context = bo(request)
    token = request.cookies.get(COOKIE_NAME, "")
    async with context.services.db.session() as session:
        found = await load_session(session, context.keys, token, context.settings, now_utc())
    if found is None:
        if wants_json(request) or request.method not in SAFE_METHODS:
            return web.json_response({"error": "login required"}, status=401)
        return redirect(f"{PREFIX}/login?next={quote(request.path_qs, safe='')}")
    staff_session, staff = found
    request[STAFF_KEY] = staff
    request[SESSION_KEY] = staff_session
    request[CSRF_KEY] = staff_session.csrf_token
    if request.method not in SAFE_METHODS:
        if not _same_origin(request) or not tokens_match(await form_token(request), staff_session.csrf_token):
            return forbidden_csrf(request)
    return await handler(request)


def require_admin(request: web.Request) -> None:
    if current_staff(request).role != "admin":
        raise web.HTTPForbidden(text=staff_text("forbidden"))


def render(request: web.Request, template: str, context: dict[str, Any], status: int = 200) -> web.Response:
    """Render a page with the common context (staff, CSRF token, flash message)."""
    msg = request.query.get("msg", "")
    err = request.query.get("err", "")
    base = {"staff": request.get(STAFF_KEY), "csrf_token": request.get(CSRF_KEY, ""),
            "flash": _flash(msg, "done_"), "flash_error": _flash(err, ""), "path": request.path}
    return aiohttp_jinja2.render_template(template, request, {**base, **context}, status=status)


def _flash(key: str, prefix: str) -> str:
    if not key or not key.startswith(prefix) or not key.replace("_", "").isalnum():
        return ""
    try:
        return staff_text(key)
    except (KeyError, IndexError):
        return ""


def redirect(location: str, msg: str | None = None, err: str | None = None) -> web.Response:
    """A 303 to `location` (a back-office path) with an optional flash key."""
    sep = "&" if "?" in location else "?"
    if msg:
        location += f"{sep}msg={msg}"
    elif err:
        location += f"{sep}err={err}"
    return web.Response(status=303, headers={"Location": location})


def int_param(value: str | None, default: int | None = None) -> int | None:
    try:
        return int(value) if value not in (None, "") else default
    except (TypeError, ValueError):
        return default


def path_int(request: web.Request, name: str) -> int:
    value = int_param(request.match_info.get(name))
    if value is None or value < 1 or value > 2**62:
        raise web.HTTPNotFound(text=staff_text("not_found"))
    return value


async def form(request: web.Request) -> dict[str, str]:
    """The submitted form's text fields (files excluded)."""
    data = await request.post()
    return {k: v for k, v in data.items() if isinstance(v, str)}


def session_of(request: web.Request) -> StaffSession:
    return request[SESSION_KEY]
