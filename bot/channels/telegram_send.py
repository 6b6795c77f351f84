"""Outbound Telegram messages: text (split at 4096 characters), choices as an inline keyboard, files as
photos or documents; Bot API errors mapped to SendResult (429 retry_after, blocked, transient)."""
from __future__ import annotations

import logging
import warnings
from datetime import timedelta
from typing import Any

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, InputFile
from telegram.error import (
    BadRequest, ChatMigrated, Forbidden, InvalidToken, NetworkError, RetryAfter, TelegramError, TimedOut,
)

from bot.core.channel import Part, PartProgress, SendResult
from bot.core.outbox import BLOCKED_PREFIX
from bot.core.texts import system_text
from storage.files import FileStore
from storage.models import Message

log = logging.getLogger(__name__)

MAX_TEXT = 4096
MAX_BUTTON_TEXT = 64
PHOTO_TYPES = ("image/jpeg", "image/png")
MAX_PHOTO_BYTES = 10 * 1024 * 1024
UNREACHABLE = ("chat not found", "user is deactivated", "peer_id_invalid", "bot can't initiate")


def button_text(number: int, label: str) -> str:
    """A numbered button ('1. Ya'), as the web chat and WhatsApp's numbered list: typing the number works too."""
    return system_text("telegram_choice_button", number=number, label=label)[:MAX_BUTTON_TEXT]


def keyboard(choices: list[str]) -> InlineKeyboardMarkup | None:
    """One numbered button per row; callback data is the 1-based number (the label is read back on press)."""
    if not choices:
        return None
    return InlineKeyboardMarkup([[InlineKeyboardButton(button_text(i, str(label)), callback_data=str(i))]
                                 for i, label in enumerate(choices, 1)])


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Split on paragraph/line/space boundaries so that each part fits Telegram's limit."""
    parts: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        cut = max(rest.rfind("\n\n", 0, limit), rest.rfind("\n", 0, limit), rest.rfind(" ", 0, limit))
        if cut <= 0:
            cut = limit
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        parts.append(rest)
    return parts


def error_result(exc: Exception) -> SendResult:
    """Map a python-telegram-bot exception to the outbox's view of it."""
    if isinstance(exc, RetryAfter):
        with warnings.catch_warnings():  # PTB 22.2+: int now, timedelta in a future major version
            warnings.simplefilter("ignore")
            after = exc.retry_after
        seconds = after.total_seconds() if isinstance(after, timedelta) else float(after)
        return SendResult(ok=False, retry_after=seconds, error=f"429: {exc}")
    if isinstance(exc, Forbidden):  # "bot was blocked by the user", "user is deactivated"
        return SendResult(ok=False, permanent=True, error=f"{BLOCKED_PREFIX}: {exc.message}")
    if isinstance(exc, ChatMigrated):
        return SendResult(ok=False, permanent=True, error=f"chat migrated to {exc.new_chat_id}")
    if isinstance(exc, BadRequest):
        text = exc.message.lower()
        if any(marker in text for marker in UNREACHABLE):
            return SendResult(ok=False, permanent=True, error=f"{BLOCKED_PREFIX}: {exc.message}")
        return SendResult(ok=False, permanent=True, error=f"bad request: {exc.message}")
    if isinstance(exc, InvalidToken):
        return SendResult(ok=False, error="invalid bot token")
    if isinstance(exc, (TimedOut, NetworkError, TelegramError)):
        return SendResult(ok=False, error=f"network: {exc}")
    raise exc


class TelegramSender:
    """Sends one stored outbound message as one or more Telegram messages. Parts already sent in an
    earlier attempt of the same message are skipped on retry (kept in memory)."""

    def __init__(self, bot: Bot, files: FileStore) -> None:
        self.bot = bot
        self.files = files
        self._progress = PartProgress()

    async def send(self, chat_id: int | str, message: Message) -> SendResult:
        parts = self._parts(chat_id, message)
        # Telegram numbers messages per chat: the stored id is chat-qualified
        return await self._progress.send(message.id, parts, error_result,
                                         lambda sent: f"{chat_id}:{sent.message_id}")

    def _parts(self, chat_id: int | str, message: Message) -> list[Part]:
        parts: list[Part] = []
        for attachment in message.attachments or []:
            parts.append(self._file_part(chat_id, attachment))
        chunks = split_text(message.text or "")
        markup = keyboard(list(message.choices or []))
        if not chunks and markup is not None:
            chunks = ["…"]
        for i, chunk in enumerate(chunks):
            reply_markup = markup if i == len(chunks) - 1 else None
            parts.append(lambda chunk=chunk, reply_markup=reply_markup: self.bot.send_message(
                chat_id=chat_id, text=chunk, reply_markup=reply_markup))
        return parts

    def _file_part(self, chat_id: int | str, attachment: dict[str, Any]) -> Part:
        async def send_file() -> Any:
            data = await self.files.read(attachment["sha256"])
            name = attachment.get("filename") or attachment["sha256"][:12]
            if attachment.get("content_type") in PHOTO_TYPES and len(data) <= MAX_PHOTO_BYTES:
                return await self.bot.send_photo(chat_id=chat_id, photo=InputFile(data, filename=name))
            return await self.bot.send_document(chat_id=chat_id, document=InputFile(data, filename=name))

        return send_file
