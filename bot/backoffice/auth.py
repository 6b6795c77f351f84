"""Staff log-in, lockout and server-side sessions.

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

from bot.backoffice.passwords import verify_password
from bot.backoffice.settings import BackofficeSettings
from storage.models import StaffSession, StaffUser

COOKIE_NAME = "hajibot_staff"


@dataclass
class LoginResult:
    staff: StaffUser | None
    error: str | None = None  # staff-text key
    locked_until: datetime | None = None


class SessionKeys:
    """Turns cookie tokens into the stored keyed hash."""

    def __init__(self, key: bytes) -> None:
        self.key = key

    def digest(self, token: str) -> str:
        return hmac.new(self.key, token.encode(), hashlib.sha256).hexdigest()


async def check_login(session: AsyncSession, settings: BackofficeSettings, username: str, password: str,
                      now: datetime) -> LoginResult:
    """Verify credentials, counting failures and locking the account after too many."""
    staff = (await session.execute(select(StaffUser).where(StaffUser.username == username.strip().lower())
                                   )).scalar_one_or_none()
    if staff is not None and staff.locked_until is not None and staff.locked_until > now:
        verify_password(None, password)  # same work either way
        return LoginResult(None, "login_locked", staff.locked_until)
    ok = verify_password(staff.password_hash if staff else None, password)
    if staff is None or not staff.active or not ok:
        if staff is not None:
            staff.failed_logins += 1
            if staff.failed_logins >= settings.max_failed_logins:
                staff.locked_until = now + timedelta(minutes=settings.lockout_minutes)
                staff.failed_logins = 0
        await session.commit()
        return LoginResult(None, "login_failed")
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
