"""Web chat sessions issued by the server.

A browser gets a random session id on its first visit, in a signed, HttpOnly, SameSite=Lax cookie
(itsdangerous TimestampSigner, keyed by HAJIBOT_SESSION_KEY). The web chat conversation is the one whose
channel user id is that session id, so a client cannot choose (or guess) whose conversation it reads or
writes: a forged or altered cookie fails the signature and simply starts a new, empty session."""
from __future__ import annotations

import logging
import secrets

from aiohttp import web
from itsdangerous import BadSignature, TimestampSigner

log = logging.getLogger(__name__)

COOKIE_NAME = "hajibot_chat"
SALT = "hajibot.webchat.session"
SESSION_PREFIX = "web-"
MAX_COOKIE_CHARS = 300


def new_session_id() -> str:
    """A fresh, unguessable session id (also the conversation's channel user id)."""
    return SESSION_PREFIX + secrets.token_urlsafe(24)


def sign_session(key: str, session_id: str) -> str:
    """The cookie value for a session id under `key` (tests and benchmarks that hold the server's key)."""
    return TimestampSigner(key, salt=SALT).sign(session_id).decode()


class ChatSessions:
    """Issues and verifies web chat session cookies."""

    def __init__(self, key: str | None, max_age_days: int) -> None:
        if not key:
            log.warning("HAJIBOT_SESSION_KEY is not set: web chat sessions use a random key and end at restart")
            key = secrets.token_hex(32)
        self.key = key
        self.max_age = max_age_days * 24 * 3600
        self._signer = TimestampSigner(key, salt=SALT)

    def sign(self, session_id: str) -> str:
        return sign_session(self.key, session_id)

    def read(self, request: web.Request) -> str | None:
        """The session id of a request's valid, unexpired cookie; None otherwise."""
        value = request.cookies.get(COOKIE_NAME, "")
        if not value or len(value) > MAX_COOKIE_CHARS:
            return None
        try:
            return self._signer.unsign(value, max_age=self.max_age).decode()
        except (BadSignature, UnicodeDecodeError):  # SignatureExpired is a BadSignature
            return None

    def attach(self, response: web.StreamResponse, session_id: str, secure: bool) -> None:
        """Set (or refresh) the session cookie on a response."""
        response.set_cookie(COOKIE_NAME, self.sign(session_id), max_age=self.max_age, path="/webchat",
                            httponly=True, samesite="Lax", secure=secure)
