"""Twilio's inbound WhatsApp form -> InboundMessage; media fetched from MediaUrlN with the account's basic
auth and size-checked while streaming (an over-size file is never held in memory in full)."""
from __future__ import annotations

import asyncio
import logging
import mimetypes
from collections.abc import Mapping
from dataclasses import dataclass, field

import aiohttp
import yarl

from bot.core.inbound import InboundAttachment, InboundMessage
from bot.core.texts import system_text, text_too_long

log = logging.getLogger(__name__)

CHANNEL = "whatsapp"
VCARD_TYPES = ("text/vcard", "text/x-vcard")
MAX_MEDIA = 10
MAX_TEXT_CHARS = 4096  # Twilio's WhatsApp body is at most 1,600 characters; tolerant, like Telegram's limit
CHUNK = 64 * 1024
MAX_REDIRECTS = 3
EXTENSIONS = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp", "application/pdf": ".pdf",
              "audio/ogg": ".ogg", "audio/mpeg": ".mp3", "audio/amr": ".amr", "audio/mp4": ".m4a"}


class TooLarge(Exception):
    pass


@dataclass
class Converted:
    inbound: InboundMessage | None = None
    user_id: str = ""
    notices: list[str] = field(default_factory=list)  # sent to the user right away


def media_kind(content_type: str) -> str:
    """WhatsApp sends voice notes as audio/ogg (Opus) and stickers as image/webp; photos are JPEG."""
    major = content_type.split("/", 1)[0].lower()
    if major == "audio":
        return "voice" if content_type.lower().startswith("audio/ogg") else "audio"
    if major == "video":
        return "video"
    return "sticker" if content_type.lower() == "image/webp" else ""


def vcard_share(data: bytes) -> dict[str, str]:
    """A shared contact card (WhatsApp sends it as a text/vcard media file): its name and first number."""
    name = phone = ""
    for line in data.decode("utf-8", "replace").splitlines():
        key, _, value = line.partition(":")
        field = key.split(";", 1)[0].strip().upper()
        if field == "FN" and not name:
            name = value.strip()
        elif field == "TEL" and not phone:
            phone = value.strip()
    return {"kind": "contact", "name": name, "phone": phone}


def location_share(form: Mapping[str, str]) -> tuple[dict[str, str], ...]:
    """Twilio's Latitude/Longitude (+ Address/Label for a shared place) of a WhatsApp location message."""
    if not form.get("Latitude") or not form.get("Longitude"):
        return ()
    label = form.get("Label") or form.get("Address") or ""
    return ({"kind": "location", "latitude": form["Latitude"], "longitude": form["Longitude"], "label": label},)


def media_filename(index: int, content_type: str) -> str:
    kind = media_kind(content_type)
    base = {"voice": "pesan-suara", "audio": "audio", "video": "video", "sticker": "stiker"}.get(
        kind, "foto" if content_type.startswith("image/") else "berkas")
    ext = EXTENSIONS.get(content_type) or mimetypes.guess_extension(content_type) or ""
    return f"{base}-{index + 1}{ext}"


class MediaFetcher:
    """Downloads Twilio media URLs (which redirect to storage) with basic auth, at most `max_bytes`."""

    def __init__(self, account_sid: str, auth_token: str, max_bytes: int, timeout: float = 20.0) -> None:
        self.auth_header = {"Authorization": aiohttp.encode_basic_auth(account_sid, auth_token)}
        self.max_bytes = max_bytes
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def fetch(self, url: str) -> bytes:
        """Raises TooLarge, aiohttp.ClientError or asyncio.TimeoutError. The credentials go only to the
        Twilio URL, never to the storage URL it redirects to."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        headers: dict[str, str] = self.auth_header
        target = url
        for _ in range(MAX_REDIRECTS + 1):
            async with self._session.get(target, headers=headers, allow_redirects=False) as response:
                if response.status in (301, 302, 303, 307, 308) and "Location" in response.headers:
                    target = str(response.url.join(yarl.URL(response.headers["Location"])))
                    headers = {}
                    continue
                return await self._read(response)
        raise aiohttp.TooManyRedirects(None, (), message="too many redirects")  # type: ignore[arg-type]

    async def _read(self, response: aiohttp.ClientResponse) -> bytes:
        response.raise_for_status()
        if response.content_length is not None and response.content_length > self.max_bytes:
            raise TooLarge()
        data = bytearray()
        async for chunk in response.content.iter_chunked(CHUNK):
            data += chunk
            if len(data) > self.max_bytes:
                raise TooLarge()
        return bytes(data)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


async def convert(form: Mapping[str, str], fetcher: MediaFetcher) -> Converted:
    """Build the inbound message; media that cannot be taken become notices for the user."""
    user_id = form.get("From", "")
    out = Converted(user_id=user_id)
    sid = form.get("MessageSid") or form.get("SmsMessageSid")
    if not user_id.startswith("whatsapp:") or not sid:
        return out  # SMS to the same Twilio number, or not a message at all: not ours
    text = form.get("ButtonText") or form.get("Body") or ""
    if len(text) > MAX_TEXT_CHARS:  # refused before any media is fetched or anything stored
        out.notices.append(text_too_long(MAX_TEXT_CHARS))
        return out
    attachments: list[InboundAttachment] = []
    contacts: list[dict[str, str]] = []
    try:
        count = min(int(form.get("NumMedia", "0") or 0), MAX_MEDIA)
    except ValueError:
        count = 0
    for i in range(count):
        url = form.get(f"MediaUrl{i}")
        content_type = form.get(f"MediaContentType{i}", "application/octet-stream")
        if not url:
            continue
        filename = media_filename(i, content_type)
        try:
            data = await fetcher.fetch(url)
        except TooLarge:
            out.notices.append(system_text("channel_file_too_large", filename=filename,
                                           max_mb=max(1, fetcher.max_bytes // (1024 * 1024))))
            continue
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            log.warning("whatsapp: media download failed (%s)", type(exc).__name__)
            out.notices.append(system_text("channel_file_failed", filename=filename))
            continue
        if content_type.lower() in VCARD_TYPES:
            contacts.append(vcard_share(data))
            continue
        kind = "sticker" if form.get("MessageType") == "sticker" else media_kind(content_type)
        attachments.append(InboundAttachment(filename=filename, content_type=content_type, data=data, kind=kind))
    shares = location_share(form) + tuple(contacts)
    if shares and text == form.get("Body") and text.strip() == (shares[0].get("label") or "").strip():
        text = ""  # Twilio repeats a shared place's name in the body
    if not text.strip() and not attachments and not shares:
        if not out.notices:
            out.notices.append(system_text("channel_unsupported"))
        return out
    out.inbound = InboundMessage(channel=CHANNEL, user_id=user_id, text=text, attachments=tuple(attachments),
                                 channel_message_id=sid, display_name=(form.get("ProfileName") or None),
                                 requester=f"wa:{user_id}"[:100], shares=shares)
    return out
