"""Signed, expiring links to a stored file for a platform that fetches what we send (Twilio fetches WhatsApp
media from our public URL): `<base>/<sha256>/<expires>/<token>/<filename>`, the token an HMAC of all three,
and the response headers that make a browser or a phone save a document under its name."""
from __future__ import annotations

import hashlib
import hmac
import re
import time
from urllib.parse import quote

from aiohttp import web

SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def safe_filename(name: str, sha256: str) -> str:
    """A plain ASCII file name (shown by WhatsApp and browsers); the hash prefix when none is left."""
    cleaned = SAFE_NAME.sub("-", name).strip("-.")[:100]
    return cleaned or sha256[:12]


def media_token(key: str, sha256: str, expires: int, filename: str) -> str:
    message = f"media:{sha256}:{expires}:{filename}".encode()
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()[:40]


def media_path(key: str, sha256: str, filename: str, ttl_seconds: float, now: float | None = None) -> str:
    """`/<sha256>/<expires>/<token>/<filename>` valid for `ttl_seconds` from `now`."""
    expires = int((time.time() if now is None else now) + ttl_seconds)
    name = safe_filename(filename, sha256)
    return f"/{sha256}/{expires}/{media_token(key, sha256, expires, name)}/{quote(name)}"


def media_valid(key: str, match: dict[str, str], now: float | None = None) -> bool:
    """The route's parts (sha256, expires, token, filename) carry a token of ours that has not expired."""
    try:
        expires = int(match["expires"])
    except (KeyError, ValueError):
        return False
    if expires < (time.time() if now is None else now) or not key:
        return False
    expected = media_token(key, match.get("sha256", ""), expires, match.get("filename", ""))
    return hmac.compare_digest(match.get("token", ""), expected)


def file_response(data: bytes, content_type: str, filename: str, attachment: bool = False) -> web.Response:
    """The file with its name, never sniffed by the browser, never run as a page."""
    disposition = "attachment" if attachment else "inline"
    return web.Response(body=data, content_type=content_type, headers={
        "Content-Disposition": f"{disposition}; filename=\"{filename}\"",
        "X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox", "Cache-Control": "private, no-store"})
