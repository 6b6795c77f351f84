"""Password hashing with argon2id, run in a small bounded thread pool so a check (~0.5 s of CPU and 64 MiB)
never blocks the event loop and a burst of sign-in attempts cannot start unbounded hashing work."""
from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("dummy-password-for-timing")
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 200
HASH_WORKERS = 2
_pool = ThreadPoolExecutor(max_workers=HASH_WORKERS, thread_name_prefix="argon2")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when `password` matches; spends the same time when there is no account (dummy hash)."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


async def verify_password_async(password_hash: str | None, password: str) -> bool:
    """`verify_password` off the event loop, in the bounded hashing pool."""
    return await asyncio.get_running_loop().run_in_executor(_pool, verify_password, password_hash, password)


async def hash_password_async(password: str) -> str:
    """`hash_password` off the event loop, in the bounded hashing pool."""
    return await asyncio.get_running_loop().run_in_executor(_pool, hash_password, password)


def password_problem(password: str) -> str | None:
    """A staff-text key saying why the password is not acceptable, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return "password_too_short"
    if len(password) > MAX_PASSWORD_LENGTH:
        return "password_too_long"
    return None
