"""Web chat sessions issued by the server.

A browser gets a random session id on its first visit, in a signed, HttpOnly, SameSite=Lax cookie
(itsdangerous TimestampSigner, keyed by HAJIBOT_SESSION_KEY). The web chat conversation is the one whose
channel user id is that session id, so a client cannot choose (or guess) whose conversation it reads or
writes: a forged or altered cookie fails the signature and simply starts a new, empty session.

A cookie that verified once is remembered (its exact value, the session id and the time it was signed), so the
next requests of a conversation skip the HMAC and only the expiry is checked again; a value never seen before
is always verified in full."""
from __future__ import annotations

import hashlib
import logging
import re
import secrets
import time

from aiohttp import web
from itsdangerous import BadSignature, TimestampSigner

log = logging.getLogger(__name__)

COOKIE_NAME = "hajibot_chat"
SALT = "hajibot.webchat.session"
SESSION_PREFIX = "web-"
MAX_COOKIE_CHARS = 300
# a Cookie header carrying only this cookie, as the page's requests send it (read without the general parser)
ONLY_OUR_COOKIE = re.compile(re.escape(COOKIE_NAME) + r"=([A-Za-z0-9_.-]{1,%d})" % MAX_COOKIE_CHARS)
MAX_REMEMBERED = 4096  # verified cookies kept (about 1 MB); then forgotten all at once and verified again


def new_session_id() -> str:
    """A fresh, unguessable session id (also the conversation's channel user id)."""
    return SESSION_PREFIX + secrets.token_urlsafe(24)


def _signer(key: str) -> TimestampSigner:
    # itsdangerous' default (HMAC-SHA1) named directly: its lazy default makes hmac take its slow pure-Python path
    return TimestampSigner(key, salt=SALT, digest_method=hashlib.sha1)


def sign_session(key: str, session_id: str) -> str:
    """The cookie value for a session id under `key` (tests and benchmarks that hold the server's key)."""
    return _signer(key).sign(session_id).decode()


class ChatSessions:
    """Issues and verifies web chat session cookies."""

    def __init__(self, key: str | None, max_age_days: int) -> None:
        if not key:
            log.warning("HAJIBOT_SESSION_KEY is not set: web chat sessions use a random key and end at restart")
            key = secrets.token_hex(32)
        self.key = key
        self.max_age = max_age_days * 24 * 3600
        self._signer = _signer(key)
        self._verified: dict[str, tuple[str, int]] = {}  # cookie value -> (session id, signed at, Unix time)

    def sign(self, session_id: str) -> str:
        return self._signer.sign(session_id).decode()

    def read(self, request: web.Request) -> str | None:
        """The session id of a request's valid, unexpired cookie; None otherwise."""
        only = ONLY_OUR_COOKIE.fullmatch(request.headers.get("Cookie", ""))
        value = only.group(1) if only else request.cookies.get(COOKIE_NAME, "")
        if not value or len(value) > MAX_COOKIE_CHARS:
            return None
        known = self._verified.get(value)
        if known is None:
            return self._verify(value)
        age = int(time.time()) - known[1]
        if age > self.max_age or age < 0:  # the same rule as itsdangerous' max_age
            del self._verified[value]
            return None
        return known[0]

    def _verify(self, value: str) -> str | None:
        """Check the signature and the age of a cookie value not seen before; remember it when valid."""
        try:
            raw, signed_at = self._signer.unsign(value, max_age=self.max_age, return_timestamp=True)
            session_id = raw.decode()
        except (BadSignature, UnicodeDecodeError):  # SignatureExpired is a BadSignature
            return None
        if len(self._verified) >= MAX_REMEMBERED:
            self._verified.clear()
        self._verified[value] = (session_id, int(signed_at.timestamp()))
        return session_id

    def attach(self, response: web.StreamResponse, session_id: str, secure: bool) -> None:
        """Set (or refresh) the session cookie on a response."""
        response.set_cookie(COOKIE_NAME, self.sign(session_id), max_age=self.max_age, path="/webchat",
                            httponly=True, samesite="Lax", secure=secure)
