"""Staff log-in (throttled, see throttle.py) and server-side sessions.

The browser holds a random session token; the database stores only HMAC(session_key, token), so a
leaked table cannot be replayed and a changed key ends every session. A new token is issued at
every log-in (no session fixation)."""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.backoffice.passwords import verify_password_async
from bot.backoffice.settings import BackofficeSettings
from bot.backoffice.throttle import LoginThrottle
from storage.models import StaffSession, StaffUser

COOKIE_NAME = "hajibot_staff"


@dataclass
class LoginResult:
    staff: StaffUser | None
    error: str | None = None  # staff-text key
    wait_seconds: float = 0.0  # > 0: throttled, try again after this


class SessionKeys:
    """Turns cookie tokens into the stored keyed hash."""

    def __init__(self, key: bytes) -> None:
        self.key = key

    def digest(self, token: str) -> str:
        return hmac.new(self.key, token.encode(), hashlib.sha256).hexdigest()


def mask_username(username: str) -> str:
    """What the audit log keeps of a name typed at a failed sign-in: 'adm***' (it may be a password typed in
    the wrong field)."""
    name = username.strip().lower()
    return (name[:3] if len(name) > 5 else name[:1]) + "***"


async def check_login(session: AsyncSession, throttle: LoginThrottle, username: str, password: str, ip: str,
                      now: float) -> LoginResult:
    """Verify credentials off the event loop. The same answer (and the same argon2 work) for an unknown name, a
    disabled account and a wrong password; throttled attempts are refused before any check."""
    name = username.strip().lower()
    wait = throttle.wait_seconds(name, ip, now)
    if wait > 0:
        return LoginResult(None, "login_throttled", wait)
    staff = (await session.execute(select(StaffUser).where(StaffUser.username == name))).scalar_one_or_none()
    ok = await verify_password_async(staff.password_hash if staff else None, password)
    if staff is None or not staff.active or not ok:
        throttle.failed(name, ip, now)
        return LoginResult(None, "login_failed")
    throttle.succeeded(name, ip)
    staff.failed_logins = 0
    staff.locked_until = None
    return LoginResult(staff)


async def open_session(session: AsyncSession, keys: SessionKeys, staff: StaffUser, settings: BackofficeSettings,
                       now: datetime) -> str:
    """Create a new session row and return the cookie token (always a fresh one)."""
    token = secrets.token_urlsafe(32)
    session.add(StaffSession(token_hash=keys.digest(token), staff_id=staff.id, csrf_token=secrets.token_urlsafe(32),
                             created_at=now, last_seen_at=now,
                             expires_at=now + timedelta(hours=settings.session_hours)))
    await session.execute(delete(StaffSession).where(StaffSession.expires_at < now))
    return token


async def load_session(session: AsyncSession, keys: SessionKeys, token: str, settings: BackofficeSettings,
                       now: datetime) -> tuple[StaffSession, StaffUser] | None:
    """The live session and its active staff user for a cookie token, sliding the expiry."""
    if not token or len(token) > 100:
        return None
    row = (await session.execute(select(StaffSession, StaffUser).join(StaffUser, StaffUser.id == StaffSession.staff_id)
                                 .where(StaffSession.token_hash == keys.digest(token)))).first()
    if row is None:
        return None
    staff_session, staff = row
    if staff_session.expires_at <= now or not staff.active:
        return None
    if (now - staff_session.last_seen_at).total_seconds() > 60:
        staff_session.last_seen_at = now
        staff_session.expires_at = now + timedelta(hours=settings.session_hours)
        await session.commit()
    return staff_session, staff


async def close_session(session: AsyncSession, keys: SessionKeys, token: str) -> None:
    await session.execute(delete(StaffSession).where(StaffSession.token_hash == keys.digest(token)))
    await session.commit()


async def end_all_sessions(session: AsyncSession, staff_id: int) -> None:
    """Log a staff member out everywhere (disabled account, password reset)."""
    await session.execute(delete(StaffSession).where(StaffSession.staff_id == staff_id))
