"""Creating and changing staff accounts and API tokens (shared by the admin pages and the CLI)."""
from __future__ import annotations

import hashlib
import re
import secrets

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.backoffice.auth import end_all_sessions
from bot.backoffice.passwords import hash_password_async, password_problem
from storage.models import ApiToken, StaffUser

ROLES = ("admin", "petugas")
SCOPES = ("read", "write")
USERNAME_RE = re.compile(r"^[a-z0-9._-]{3,80}$")
TOKEN_PREFIX = "hjb_"


class AccountError(Exception):
    """`code` is a staff-text key."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def normalise_username(username: str) -> str:
    name = username.strip().lower()
    if not USERNAME_RE.match(name):
        raise AccountError("username_invalid")
    return name


async def create_staff(session: AsyncSession, username: str, display_name: str, role: str,
                       password: str) -> StaffUser:
    name = normalise_username(username)
    if role not in ROLES:
        raise AccountError("role_invalid")
    display = display_name.strip()[:200] or name
    problem = password_problem(password)
    if problem:
        raise AccountError(problem)
    if (await session.execute(select(StaffUser.id).where(StaffUser.username == name))).first():
        raise AccountError("username_taken")
    staff = StaffUser(username=name, display_name=display, role=role, password_hash=await hash_password_async(password),
                      active=True, failed_logins=0)
    session.add(staff)
    await session.flush()
    return staff


async def set_password(session: AsyncSession, staff: StaffUser, password: str) -> None:
    problem = password_problem(password)
    if problem:
        raise AccountError(problem)
    staff.password_hash = await hash_password_async(password)
    staff.failed_logins = 0
    staff.locked_until = None
    await end_all_sessions(session, staff.id)


async def set_active(session: AsyncSession, staff: StaffUser, active: bool) -> None:
    staff.active = active
    if not active:
        await end_all_sessions(session, staff.id)


def random_password() -> str:
    """A new password to hand over once (about 120 bits, easy to type: letters, digits, dashes)."""
    return "-".join(secrets.token_urlsafe(6) for _ in range(4))


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_token(session: AsyncSession, name: str, scope: str, staff_id: int | None) -> tuple[ApiToken, str]:
    """A new bearer token; the plain value is returned once and never stored."""
    if scope not in SCOPES:
        raise AccountError("invalid_input")
    label = name.strip()[:80]
    if not label:
        raise AccountError("invalid_input")
    plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(name=label, scope=scope, staff_id=staff_id, token_hash=token_hash(plain), prefix=plain[:10],
                   active=True)
    session.add(row)
    await session.flush()
    return row, plain


async def find_staff(session: AsyncSession, username: str) -> StaffUser | None:
    return (await session.execute(select(StaffUser).where(StaffUser.username == username.strip().lower())
                                  )).scalar_one_or_none()
