"""Telegram channel (python-telegram-bot v22): webhook on our aiohttp app, or long polling.

Inbound, store-then-ack: the webhook checks X-Telegram-Bot-Api-Secret-Token in constant time, parses the
body with `Update.de_json`, downloads files, stores the message with `pipeline.receive` (update_id is the
channel message id, so a redelivered update is stored once) and only then answers 200; the dialogue step
runs in a background task. If storing fails we answer 500 and Telegram delivers the update again.
We dispatch on PTB's types ourselves instead of `Application.process_update`, because the application
swallows handler errors and we must know whether the message was stored before acknowledging it.

Outbound: `send` is called by the outbox (rate limits: 30/s overall, 1/s per chat by default).
"""
from __future__ import annotations

import asyncio
import hmac
import json
import logging
from pathlib import Path

from aiohttp import web
from sqlalchemy import func, select
from telegram import Bot, Update
from telegram.error import Conflict, InvalidToken, NetworkError, TelegramError
from telegram.request import HTTPXRequest

from bot.core.channel import SendResult
from bot.channels.telegram_inbound import ALLOWED_UPDATES, CHANNEL, TransientError, UpdateConverter
from bot.channels.telegram_send import TelegramSender
from bot.config import Settings
from bot.core.outbox import RateLimit, RateLimiter, mark_reachable
from bot.core.pipeline import Pipeline
from bot.core.privacy_log import mask_user_id
from storage.db import Database
from storage.files import FileStore
from storage.models import Conversation, Message

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
SECRET_FILE = "telegram-webhook-secret"  # written by `hajibot telegram set-webhook`, next to files_dir
MAX_UPDATE_BYTES = 1024 * 1024


def make_bot(settings: Settings) -> Bot:
    """A PTB Bot for our token and the configured (possibly self-hosted or fake) Bot API server."""
    config = settings.config.channels.telegram
    token = settings.secrets.telegram_token or ""
    timeout = config.request_timeout_seconds
    return Bot(token, base_url=config.base_url, base_file_url=config.base_file_url,
               request=HTTPXRequest(connection_pool_size=64, read_timeout=timeout, write_timeout=timeout,
                                    connect_timeout=10.0, media_write_timeout=timeout * 2),
               get_updates_request=HTTPXRequest(read_timeout=config.polling_timeout_seconds + 15.0))


async def close_bot(bot: Bot) -> None:
    """Close both HTTP clients of a bot that was used without `initialize()` (no getMe needed)."""
    for request in (bot.request, getattr(bot, "_request", (None,))[0]):
        if request is not None:
            await request.shutdown()


def secret_file(settings: Settings) -> Path:
    return settings.path(settings.config.storage.files_dir).parent / SECRET_FILE


def webhook_secret(settings: Settings) -> str | None:
    """HAJIBOT_TELEGRAM_WEBHOOK_SECRET, else the secret saved by `hajibot telegram set-webhook`."""
    if settings.secrets.telegram_webhook_secret:
        return settings.secrets.telegram_webhook_secret
    try:
        return secret_file(settings).read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


class TelegramChannel:
    name = CHANNEL
    push = True

    def __init__(self, settings: Settings, pipeline: Pipeline, db: Database, files: FileStore) -> None:
        self.settings = settings
        self.config = settings.config.channels.telegram
        self.pipeline = pipeline
        self.db = db
        self.files = files
        self.bot = make_bot(settings)
        self.converter = UpdateConverter(self.bot, settings.config.dialogue.max_upload_bytes)
        self.sender = TelegramSender(self.bot, files)
        self.rate_limits = (RateLimit(self.config.rate_per_second, burst=max(1, int(self.config.rate_per_second))),
                            RateLimit(self.config.rate_per_chat_per_second, burst=self.config.burst_per_chat,
                                      per_chat=True))
        self.polling = False
        self.offset: int | None = None  # next getUpdates offset (polling mode)
        self._secret = webhook_secret(settings)
        self.limiter = RateLimiter()  # shared by every sender on this channel (outbox, broadcasts)
        self._tasks: set[asyncio.Task[None]] = set()
        self._poller: asyncio.Task[None] | None = None

    # plug-in interface --------------------------------------------------------------------------
    def setup_routes(self, app: web.Application) -> None:
        app.router.add_post(self.config.webhook_path, self.webhook)

    async def start(self) -> None:
        if self._secret is None and not self.polling:
            log.warning("telegram: no webhook secret configured; the webhook refuses every request "
                        "(run `hajibot telegram set-webhook URL` or use --telegram-polling)")
        if self.polling:
            self._poller = asyncio.create_task(self.poll_forever(), name="telegram-polling")

    async def stop(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            await asyncio.gather(self._poller, return_exceptions=True)
            self._poller = None
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await close_bot(self.bot)

    async def send(self, conversation: Conversation, message: Message) -> SendResult:
        return await self.sender.send(conversation.channel_user_id, message)

    # inbound ------------------------------------------------------------------------------------
    async def webhook(self, request: web.Request) -> web.Response:
        if not self._secret_ok(request.headers.get(SECRET_HEADER, "")):
            return web.Response(status=403, text="forbidden")
        if request.content_length is not None and request.content_length > MAX_UPDATE_BYTES:
            return web.Response(status=413, text="too large")
        try:
            data = json.loads(await request.read())
            update = Update.de_json(data, self.bot) if isinstance(data, dict) else None
        except Exception:  # noqa: BLE001 - any malformed body is the sender's problem, not ours
            return web.Response(status=400, text="not a Telegram update")
        if update is None:
            return web.Response(status=400, text="not a Telegram update")
        try:
            await self.ingest(update)
        except TransientError as exc:
            log.warning("telegram update %s not stored yet (%s); Telegram will redeliver", update.update_id, exc)
            return web.Response(status=503, text="try again")
        return web.Response(status=200)

    def _secret_ok(self, given: str) -> bool:
        expected = self._secret
        if expected is None or hmac.compare_digest(given.encode(), expected.encode()) is False:
            fresh = webhook_secret(self.settings)  # set-webhook may have registered a new secret
            if fresh is not None and fresh != expected:
                self._secret = fresh
                return hmac.compare_digest(given.encode(), fresh.encode())
            return False
        return True

    async def ingest(self, update: Update) -> None:
        """Store one update durably, then process it in the background. Raises TransientError when the
        update could not be stored (it must be delivered again)."""
        converted = await self.converter.convert(update)
        if converted.callback_query_id is not None:
            self._background(self._answer_callback(converted.callback_query_id, converted.chat_id,
                                                   converted.keyboard_message_id))
        pressed = converted.keyboard_message_id if converted.callback_query_id is not None else None
        if converted.notices and converted.chat_id is not None:
            self._background(self._notify(converted.chat_id, converted.notices))
        if converted.inbound is None:
            return
        try:
            received = await self.pipeline.receive(converted.inbound)
        except Exception as exc:
            log.exception("telegram: storing update %s failed", update.update_id)
            raise TransientError(type(exc).__name__) from exc
        if received.duplicate:
            log.info("telegram: duplicate update %s not stored again", update.update_id)
        else:
            await self._reachable(received.conversation_id)
            if converted.chat_id is not None:
                self._background(self._remove_answered_keyboards(received.conversation_id, received.message_id,
                                                                 converted.chat_id, pressed))
        # also for a duplicate: processing is idempotent and picks up anything a crash left unprocessed
        self._background(self._process(received.conversation_id))

    async def _reachable(self, conversation_id: int) -> None:
        try:
            await mark_reachable(self.db, conversation_id)
        except Exception:  # the message is stored; this must not make Telegram deliver it again
            log.exception("telegram: clearing blocked state failed conversation=%s", conversation_id)

    async def _process(self, conversation_id: int) -> None:
        try:
            await self.pipeline.process(conversation_id)
        except Exception:
            log.exception("telegram: processing conversation %s failed (retried at next start)", conversation_id)

    async def _answer_callback(self, query_id: str, chat_id: int | None, message_id: int | None) -> None:
        """Stop the button's spinner, then remove the keyboard so an old choice is not pressed twice."""
        try:
            await self.bot.answer_callback_query(query_id)
            if chat_id is not None and message_id is not None:
                await self.bot.edit_message_reply_markup(chat_id=chat_id, message_id=message_id, reply_markup=None)
        except TelegramError as exc:
            log.info("telegram: answering a button press failed: %s", exc)

    async def _remove_answered_keyboards(self, conversation_id: int, inbound_id: int, chat_id: int,
                                         pressed: int | None) -> None:
        """The pilgrim answered (typed or pressed): the keyboards of the bot's messages since their previous
        message belong to the question just answered, so they are removed (editMessageReplyMarkup), and an
        old button cannot be pressed later. The pressed message's own keyboard is removed by _answer_callback."""
        try:
            message_ids = await open_keyboards(self.db, conversation_id, inbound_id, chat_id)
        except Exception:  # noqa: BLE001 - the message is stored; a keyboard left is only cosmetic
            log.exception("telegram: finding answered keyboards failed conversation=%s", conversation_id)
            return
        for message_id in message_ids:
            if message_id == pressed:
                continue
            try:
                await self.bot.edit_message_reply_markup(chat_id=chat_id, message_id=message_id, reply_markup=None)
            except TelegramError as exc:  # e.g. already removed, or the message is too old to edit
                log.info("telegram: removing an answered keyboard failed: %s", exc)

    async def _notify(self, chat_id: int, texts: list[str]) -> None:
        for text in texts:
            try:
                await self.bot.send_message(chat_id=chat_id, text=text)
            except TelegramError as exc:
                log.info("telegram: notice to %s failed: %s", mask_user_id(str(chat_id)), exc)

    def _background(self, coro) -> None:  # type: ignore[no-untyped-def]
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def wait_idle(self) -> None:
        """Wait for background work started by inbound updates (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # polling ------------------------------------------------------------------------------------
    async def poll_forever(self) -> None:
        """Long-poll getUpdates; the offset only moves past an update once it is stored."""
        try:
            await self.bot.delete_webhook(drop_pending_updates=False)
        except TelegramError as exc:
            log.warning("telegram: deleteWebhook failed: %s", exc)
        delay = 1.0
        log.info("telegram: polling for updates")
        while True:
            try:
                await self.poll_once()
                delay = 1.0
            except (InvalidToken, Conflict) as exc:
                log.error("telegram polling: %s", exc)
                await asyncio.sleep(30)
            except (NetworkError, TransientError) as exc:
                log.warning("telegram polling: %s; retrying in %.0fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 60.0)

    async def poll_once(self, timeout: int | None = None) -> int:
        """One getUpdates round; returns how many updates were stored. On TransientError the offset stays
        at the failed update, so the next round fetches it again."""
        updates = await self.bot.get_updates(
            offset=self.offset, timeout=self.config.polling_timeout_seconds if timeout is None else timeout,
            allowed_updates=ALLOWED_UPDATES)
        for update in updates:
            await self.ingest(update)
            self.offset = update.update_id + 1
        return len(updates)


async def open_keyboards(db: Database, conversation_id: int, inbound_id: int, chat_id: int) -> list[int]:
    """Telegram message ids of the bot's messages with choices sent after the pilgrim's previous message
    (before `inbound_id`): the question(s) the new message answers."""
    async with db.session() as session:
        previous = (await session.execute(select(func.max(Message.id)).where(
            Message.conversation_id == conversation_id, Message.direction == "in", Message.id < inbound_id)
        )).scalar_one_or_none() or 0
        rows = (await session.execute(select(Message.channel_message_id, Message.choices).where(
            Message.conversation_id == conversation_id, Message.direction == "out", Message.id > previous,
            Message.id < inbound_id, Message.channel_message_id.is_not(None)))).all()
    ids = []
    for provider_id, choices in rows:
        chat, _, message_id = str(provider_id).rpartition(":")  # stored chat-qualified: "<chat>:<message>"
        if choices and chat == str(chat_id) and message_id.isdigit():
            ids.append(int(message_id))
    return ids


def use_polling(services: object) -> bool:
    """Switch the Telegram channel of built services to long polling (`hajibot serve --telegram-polling`).
    Returns False when Telegram is not enabled."""
    channel = getattr(services, "channels", {}).get(CHANNEL)
    if channel is None:
        return False
    channel.polling = True
    return True
