"""WhatsApp channel through Twilio.

Inbound, store-then-ack: the form webhook is validated with twilio's RequestValidator against the
configured public URL (403 otherwise), media are fetched, the message is stored with `pipeline.receive`
(MessageSid is the channel message id, so a redelivery is stored once), then an empty TwiML answer goes back
and the dialogue step runs in a background task. Replies are sent by the outbox through `send`.
Status callbacks (queued/sent/delivered/read/failed/undelivered) update the stored outbound message.
Outbound files are served to Twilio from /whatsapp/media/<sha256>/<expires>/<token>/<filename>: signed with
the auth token and valid `channels.whatsapp.media_url_minutes` (bot/channels/signed_media.py).
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web
from sqlalchemy import select, update
from twilio.request_validator import RequestValidator, get_signature_algorithm
from twilio.twiml.messaging_response import MessagingResponse

from bot.channels.signed_media import file_response, media_path, media_valid
from bot.core.channel import SendResult
from bot.channels.whatsapp_inbound import CHANNEL, MediaFetcher, convert
from bot.channels.whatsapp_send import WhatsAppSender
from bot.channels.twilio_codes import OUTSIDE_WINDOW_CODES, UNREACHABLE_CODES
from bot.channels.whatsapp_twilio import make_client
from bot.core.outbox import BLOCKED_PREFIX, RateLimit, RateLimiter, mark_reachable
from bot.core.pipeline import Pipeline
from bot.core.privacy_log import mask_user_id
from storage.db import Database
from storage.files import FileStore
from storage.filetypes import sniff_content_type
from storage.models import Conversation, Message

if TYPE_CHECKING:
    from bot.config import Settings  # a type only: the settings sit above the channels (docs/architecture.md)

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Twilio-Signature"
SIGNATURE_SETTINGS_HEADER = "X-Twilio-Webhooks-Signature-Settings"
MEDIA_PATH = "/whatsapp/media"
STATUS_RANK = {"sent": 1, "delivered": 2, "read": 3}
EMPTY_TWIML = str(MessagingResponse())


class WhatsAppChannel:
    name = CHANNEL
    push = True

    def __init__(self, settings: Settings, pipeline: Pipeline, db: Database, files: FileStore) -> None:
        self.settings = settings
        self.config = settings.config.channels.whatsapp
        self.pipeline = pipeline
        self.db = db
        self.files = files
        sid = settings.secrets.twilio_account_sid or ""
        self.auth_token = settings.secrets.twilio_auth_token or ""
        self.validator = RequestValidator(self.auth_token)
        self.client = make_client(sid, self.auth_token, self.config.api_base_url, self.config.request_timeout_seconds)
        self.fetcher = MediaFetcher(sid, self.auth_token, settings.config.dialogue.max_upload_bytes)
        public = self.config.public_url.rstrip("/")
        self.sender = WhatsAppSender(
            self.client, self.config, settings.config.office.name, self.media_url,
            f"{public}{self.config.status_callback_path}" if public else None)
        self.rate_limits = (RateLimit(self.config.messages_per_second,
                                      burst=max(1, int(self.config.messages_per_second))),)
        self.status_retry_delays: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0)
        # async (sid, status, error code) -> True when the report was theirs (other rooms' sends)
        self.status_listeners: list[Callable[[str, str, str], Awaitable[bool]]] = []
        self.limiter = RateLimiter()  # shared by every sender on this channel (outbox, broadcasts)
        self._tasks: set[asyncio.Task[None]] = set()

    # plug-in interface --------------------------------------------------------------------------
    def setup_routes(self, app: web.Application) -> None:
        app.router.add_post(self.config.webhook_path, self.webhook)
        app.router.add_post(self.config.status_callback_path, self.status_callback)
        app.router.add_get(MEDIA_PATH + "/{sha256}/{expires}/{token}/{filename}", self.media)

    async def start(self) -> None:
        if not self.config.public_url:
            log.warning("whatsapp: channels.whatsapp.public_url is empty; every webhook will be refused")
        self.client.messages  # noqa: B018 - twilio imports its API modules lazily: now, not during a send (~0.15 s)

    async def stop(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.fetcher.close()
        await self.client.http_client.close()

    async def send(self, conversation: Conversation, message: Message) -> SendResult:
        return await self.sender.send(conversation, message)

    # security -----------------------------------------------------------------------------------
    def public_url_of(self, request: web.Request) -> str:
        return self.config.public_url.rstrip("/") + request.raw_path

    def signature_ok(self, request: web.Request, form: Any) -> bool:
        if not self.config.public_url or not self.auth_token:
            return False
        signature = request.headers.get(SIGNATURE_HEADER, "")
        if not signature:
            return False
        algorithm = get_signature_algorithm(request.headers.get(SIGNATURE_SETTINGS_HEADER))
        return bool(self.validator.validate(self.public_url_of(request), form, signature, algorithm))

    def media_url(self, attachment: dict[str, Any], now: float | None = None) -> str | None:
        """A signed link to the stored file for Twilio to fetch, valid `media_url_minutes` (None without a
        public URL or an auth token)."""
        if not self.config.public_url or not self.auth_token:
            return None
        path = media_path(self.auth_token, attachment["sha256"], attachment.get("filename") or "",
                          self.config.media_url_minutes * 60, now)
        return f"{self.config.public_url.rstrip('/')}{MEDIA_PATH}{path}"

    # routes -------------------------------------------------------------------------------------
    async def webhook(self, request: web.Request) -> web.Response:
        form = await request.post()
        if not self.signature_ok(request, form):
            log.warning("whatsapp: webhook with an invalid signature refused")
            return web.Response(status=403, text="invalid signature")
        plain = {key: str(form.get(key, "")) for key in form.keys()}
        converted = await convert(plain, self.fetcher)
        if converted.notices and converted.user_id:
            self._background(self._notify(converted.user_id, converted.notices))
        if converted.inbound is not None:
            try:
                received = await self.pipeline.receive(converted.inbound)
            except Exception:
                log.exception("whatsapp: storing message failed")
                return web.Response(status=500, text="not stored")
            if received.duplicate:
                log.info("whatsapp: duplicate MessageSid not stored again")
            else:
                await self._reachable(received.conversation_id)
            # also for a duplicate: processing is idempotent and picks up anything a crash left unprocessed
            self._background(self._process(received.conversation_id))
        return web.Response(text=EMPTY_TWIML, content_type="text/xml")

    async def status_callback(self, request: web.Request) -> web.Response:
        form = await request.post()
        if not self.signature_ok(request, form):
            return web.Response(status=403, text="invalid signature")
        sid = str(form.get("MessageSid", ""))
        status = str(form.get("MessageStatus", "")).lower()
        code = str(form.get("ErrorCode", "") or "")
        if sid:
            await self.apply_status(sid, status, code)
        return web.Response(status=204)

    async def apply_status(self, sid: str, status: str, code: str = "") -> bool:
        """Record a delivery report on the outbound message whose provider id is `sid`, and offer it to the
        `status_listeners` (e.g. broadcast deliveries); False when nobody knows the SID. An unknown SID is
        tried again a few times in the background: the report can overtake the outbox recording the SID
        of the message it has just created."""
        matched = await self._apply(sid, status, code)
        if not matched and status != "queued" and await self._send_in_flight():
            self._background(self._apply_later(sid, status, code))
        return matched

    async def _send_in_flight(self) -> bool:
        """Is the outbox between creating a message at Twilio and recording its SID?"""
        async with self.db.session() as session:
            return (await session.execute(select(Message.id).where(
                Message.channel == CHANNEL, Message.direction == "out", Message.status == "sending").limit(1)
            )).first() is not None

    async def _apply(self, sid: str, status: str, code: str) -> bool:
        matched = await self._apply_outbox(sid, status, code)
        for listener in self.status_listeners:
            try:
                matched = bool(await listener(sid, status, code)) or matched
            except Exception:  # a listener must never break the webhook
                log.exception("whatsapp: status listener failed")
        return matched

    async def _apply_later(self, sid: str, status: str, code: str) -> None:
        for delay in self.status_retry_delays:
            await asyncio.sleep(delay)
            if await self._apply(sid, status, code):
                return
        log.info("whatsapp: status %s for an unknown message ignored", status)

    async def _apply_outbox(self, sid: str, status: str, code: str) -> bool:
        async with self.db.session() as session:
            message = (await session.execute(select(Message).where(
                Message.channel == CHANNEL, Message.direction == "out", Message.channel_message_id == sid,
            ))).scalar_one_or_none()
            if message is None:
                return False
            if status in STATUS_RANK:
                if STATUS_RANK[status] > STATUS_RANK.get(message.status, 0):
                    message.status = status
            elif status in ("failed", "undelivered"):
                number = int(code) if code.isdigit() else 0
                reason = f"twilio {status} {code}".strip()
                if number in OUTSIDE_WINDOW_CODES:
                    message.status, message.error = "undeliverable", reason
                else:
                    message.status, message.error = "failed", reason
                if number in UNREACHABLE_CODES:
                    message.error = f"{BLOCKED_PREFIX}: {reason}"
                    await session.execute(update(Conversation).where(Conversation.id == message.conversation_id)
                                          .values(blocked=True))
            await session.commit()
            return True

    async def media(self, request: web.Request) -> web.StreamResponse:
        if not media_valid(self.auth_token, dict(request.match_info)):
            return web.Response(status=404)
        try:
            data = await self.files.read(request.match_info["sha256"])
        except (ValueError, OSError):
            return web.Response(status=404)
        return file_response(data, sniff_content_type(data), request.match_info["filename"])

    # background ---------------------------------------------------------------------------------
    async def _reachable(self, conversation_id: int) -> None:
        try:
            await mark_reachable(self.db, conversation_id)
        except Exception:  # the message is stored; answering 500 now would only cause a redelivery
            log.exception("whatsapp: clearing blocked state failed conversation=%s", conversation_id)

    async def _process(self, conversation_id: int) -> None:
        try:
            await self.pipeline.process(conversation_id)
        except Exception:
            log.exception("whatsapp: processing conversation %s failed (retried at next start)", conversation_id)

    async def _notify(self, user_id: str, texts: list[str]) -> None:
        for text in texts:
            try:
                await self.sender.send_text(user_id, text)
            except Exception as exc:  # noqa: BLE001 - a notice is best effort
                log.info("whatsapp: notice to %s failed: %s", mask_user_id(user_id), type(exc).__name__)

    def _background(self, coro) -> None:  # type: ignore[no-untyped-def]
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def wait_idle(self) -> None:
        """Wait for background work started by inbound messages (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
