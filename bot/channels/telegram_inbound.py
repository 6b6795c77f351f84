"""Telegram Update (python-telegram-bot types) -> InboundMessage, downloading files with getFile.

Handles text, captions, photos (largest size), documents, voice notes, audio, video notes, stickers,
locations and contact cards (recognised as what they are, never as documents), `/start` deep links and
callback queries (a pressed inline-keyboard button continues the flow as the button's label).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone

from telegram import Bot, CallbackQuery, Message as TgMessage, Update
from telegram.error import BadRequest, NetworkError, TelegramError

from bot.core.inbound import InboundAttachment, InboundMessage
from bot.core.texts import system_text, text_too_long

log = logging.getLogger(__name__)

CHANNEL = "telegram"
ALLOWED_UPDATES = ["message", "callback_query"]
MAX_TEXT_CHARS = 4096  # Telegram's own limit for a message; longer text only comes from a forged update


class TransientError(Exception):
    """Telegram could not be reached (e.g. while downloading a file): ask for a redelivery."""


@dataclass
class Converted:
    """What one update means for us."""

    inbound: InboundMessage | None = None
    chat_id: int | None = None
    notices: list[str] = field(default_factory=list)  # sent to the user right away (e.g. file too large)
    callback_query_id: str | None = None
    keyboard_message_id: int | None = None  # the message whose button was pressed (its keyboard is removed)


def button_label(query: CallbackQuery) -> str:
    """The label of the pressed button (read from the message's keyboard, without its number); the callback
    data otherwise."""
    data = query.data or ""
    markup = getattr(query.message, "reply_markup", None) if query.message is not None else None
    if markup is not None:
        numbered = system_text("telegram_choice_button", number=data, label="")
        for row in markup.inline_keyboard:
            for button in row:
                if button.callback_data == data:
                    text = button.text
                    return text[len(numbered):].strip() if numbered.strip() and text.startswith(numbered) else text
    return data


def start_text(text: str) -> str:
    """`/start` -> the configured greeting; `/start cek_porsi` (deep link) -> 'cek porsi'."""
    parts = text.split(maxsplit=1)
    payload = parts[1].strip() if len(parts) > 1 else ""
    if not payload:
        return system_text("telegram_start_text")
    return payload.replace("_", " ").replace("-", " ").strip()


def contact_phone(msg: TgMessage) -> str:
    phone = (msg.contact.phone_number if msg.contact else "").strip()
    if phone and not phone.startswith("+") and phone.isdigit():
        phone = "+" + phone
    return phone


def shares_of(msg: TgMessage) -> tuple[dict[str, str], ...]:
    """A shared contact card or location (a venue is a location with a name)."""
    if msg.contact is not None:
        name = " ".join(p for p in (msg.contact.first_name, msg.contact.last_name) if p)
        return ({"kind": "contact", "name": name, "phone": contact_phone(msg)},)
    location = msg.venue.location if msg.venue is not None else msg.location
    if location is not None:
        label = msg.venue.title if msg.venue is not None else ""
        return ({"kind": "location", "latitude": f"{location.latitude:.6f}",
                 "longitude": f"{location.longitude:.6f}", "label": label},)
    return ()


class UpdateConverter:
    """Turns updates into inbound messages; downloads attachments up to `max_bytes`."""

    def __init__(self, bot: Bot, max_bytes: int) -> None:
        self.bot = bot
        self.max_bytes = max_bytes

    async def convert(self, update: Update) -> Converted:
        if update.callback_query is not None:
            return self._callback(update)
        msg = update.message
        if msg is None or msg.chat.type != "private":
            return Converted()  # edits, channel posts and groups are not conversations with a pilgrim
        out = Converted(chat_id=msg.chat.id)
        text = msg.text or msg.caption or ""
        if msg.text and (msg.text == "/start" or msg.text.startswith("/start ")):
            text = start_text(msg.text)
        shares = shares_of(msg)
        if len(text) > MAX_TEXT_CHARS:  # refused before any file is downloaded or anything stored
            out.notices.append(text_too_long(MAX_TEXT_CHARS))
            return out
        attachments = await self._attachments(msg, out)
        if not text.strip() and not attachments and not shares:
            if not out.notices:
                out.notices.append(system_text("channel_unsupported"))
            return out
        user = msg.from_user
        out.inbound = InboundMessage(
            channel=CHANNEL, user_id=str(msg.chat.id), text=text, attachments=tuple(attachments),
            channel_message_id=str(update.update_id), at=_aware(msg.date),
            display_name=user.full_name[:200] if user else None, requester=f"tg:{user.id}" if user else None,
            shares=shares)
        return out

    def _callback(self, update: Update) -> Converted:
        query = update.callback_query
        assert query is not None
        chat_id = query.message.chat.id if query.message is not None else query.from_user.id
        out = Converted(chat_id=chat_id, callback_query_id=query.id,
                        keyboard_message_id=query.message.message_id if query.message is not None else None)
        label = button_label(query)
        if label:
            out.inbound = InboundMessage(
                channel=CHANNEL, user_id=str(chat_id), text=label, channel_message_id=str(update.update_id),
                display_name=query.from_user.full_name[:200], requester=f"tg:{query.from_user.id}")
        return out

    async def _attachments(self, msg: TgMessage, out: Converted) -> list[InboundAttachment]:
        wanted: list[tuple[str, int | None, str, str, str]] = []  # file_id, size, filename, content type, kind
        n = msg.message_id
        if msg.voice is not None:
            wanted.append((msg.voice.file_id, msg.voice.file_size, f"pesan-suara-{n}.ogg",
                           msg.voice.mime_type or "audio/ogg", "voice"))
        if msg.audio is not None:
            wanted.append((msg.audio.file_id, msg.audio.file_size, msg.audio.file_name or f"audio-{n}",
                           msg.audio.mime_type or "audio/mpeg", "audio"))
        if msg.video_note is not None:
            wanted.append((msg.video_note.file_id, msg.video_note.file_size, f"video-{n}.mp4", "video/mp4", "video"))
        if msg.sticker is not None:
            wanted.append((msg.sticker.file_id, msg.sticker.file_size, f"stiker-{n}.webp", "image/webp", "sticker"))
        if msg.photo:
            photo = max(msg.photo, key=lambda p: (p.width * p.height, p.file_size or 0))
            wanted.append((photo.file_id, photo.file_size, f"foto-{msg.message_id}.jpg", "image/jpeg", ""))
        if msg.document is not None:
            doc = msg.document
            wanted.append((doc.file_id, doc.file_size, doc.file_name or f"berkas-{msg.message_id}",
                           doc.mime_type or "application/octet-stream", ""))
        result = []
        for file_id, size, filename, content_type, kind in wanted:
            data = await self._download(file_id, size, filename, out)
            if data is not None:
                result.append(InboundAttachment(filename=filename, content_type=content_type, data=data, kind=kind))
        return result

    async def _download(self, file_id: str, size: int | None, filename: str, out: Converted) -> bytes | None:
        if size is not None and size > self.max_bytes:
            out.notices.append(self._too_large(filename))
            return None
        try:
            file = await self.bot.get_file(file_id)
            if file.file_size is not None and file.file_size > self.max_bytes:
                out.notices.append(self._too_large(filename))
                return None
            data = bytes(await file.download_as_bytearray())
        except BadRequest as exc:  # e.g. "file is too big" (over the Bot API's 20 MB)
            log.warning("telegram getFile refused: %s", exc.message)
            out.notices.append(self._too_large(filename) if "too big" in exc.message.lower()
                               else system_text("channel_file_failed", filename=filename))
            return None
        except (NetworkError, TelegramError) as exc:
            raise TransientError(str(exc)) from exc
        if len(data) > self.max_bytes:
            out.notices.append(self._too_large(filename))
            return None
        return data

    def _too_large(self, filename: str) -> str:
        return system_text("channel_file_too_large", filename=filename,
                           max_mb=max(1, self.max_bytes // (1024 * 1024)))


def _aware(value: datetime | None) -> datetime:
    if value is None:
        return datetime.now(timezone.utc)
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
