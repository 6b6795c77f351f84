"""The twilio client for WhatsApp: async HTTP client, optional API base URL override (a self-hosted proxy
or the tests' local fake) without patching the library, and Twilio errors mapped to SendResult."""
from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from bot.channels.twilio_codes import OUTSIDE_WINDOW_CODES, RETRY_CODES, UNREACHABLE_CODES
from bot.core.channel import SendResult
from bot.core.outbox import BLOCKED_PREFIX


class RebasedHttpClient(AsyncTwilioHttpClient):
    """AsyncTwilioHttpClient that sends every request to `base_url` instead of *.twilio.com
    (scheme, host and path prefix replaced; the API path and query kept)."""

    def __init__(self, base_url: str = "", timeout: float | None = None) -> None:
        super().__init__(pool_connections=False, timeout=timeout)
        self.base = urlsplit(base_url.rstrip("/")) if base_url else None
        self._session: aiohttp.ClientSession | None = None

    def rebase(self, url: str) -> str:
        if self.base is None:
            return url
        parts = urlsplit(url)
        return urlunsplit((self.base.scheme, self.base.netloc, self.base.path + parts.path, parts.query, ""))

    async def request(self, method: str, url: str, params: Any = None, data: Any = None,
                      headers: dict[str, str] | None = None, auth: tuple[str, str] | None = None,
                      timeout: float | None = None, allow_redirects: bool = False) -> Response:
        if self.session is None:  # one pooled session, created inside the running event loop
            self._session = self.session = aiohttp.ClientSession()
        headers = dict(headers or {})
        if auth is not None:  # as a header: aiohttp deprecates BasicAuth objects
            headers["Authorization"] = aiohttp.encode_basic_auth(auth[0], auth[1])
        return await super().request(method, self.rebase(url), params=params, data=data, headers=headers,
                                     auth=None, timeout=timeout, allow_redirects=allow_redirects)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = self.session = None


def make_client(account_sid: str, auth_token: str, base_url: str = "", timeout: float = 30.0) -> Client:
    return Client(account_sid, auth_token, http_client=RebasedHttpClient(base_url, timeout=timeout))


def error_result(exc: BaseException) -> SendResult:
    """Twilio REST errors and network problems as the outbox sees them."""
    if isinstance(exc, TwilioRestException):
        code = exc.code or 0
        text = f"twilio {exc.status}/{code}: {exc.msg}"[:400]
        if exc.status == 429 or code in RETRY_CODES:
            return SendResult(ok=False, error=text)
        if exc.status >= 500:
            return SendResult(ok=False, error=text)
        if code in UNREACHABLE_CODES:
            return SendResult(ok=False, permanent=True, error=f"{BLOCKED_PREFIX}: {text}")
        if code in OUTSIDE_WINDOW_CODES:
            return SendResult(ok=False, undeliverable=True, error=text)
        if exc.status in (401, 403):  # wrong credentials: an operator fixes the config, then it goes out
            return SendResult(ok=False, error=text)
        return SendResult(ok=False, permanent=True, error=text)
    if isinstance(exc, (aiohttp.ClientError, asyncio.TimeoutError, OSError)):
        return SendResult(ok=False, error=f"network: {type(exc).__name__}")
    raise exc
