"""Web chat channel: a JSON endpoint for one message and its replies, a poll endpoint for the conversation's
history and later messages (e.g. from staff), and a small browser page at /webchat.

Whose conversation a request belongs to comes only from the server-issued session cookie
(bot/channels/webchat_session.py), never from the request body or query. Limits match the other channels:
the text is at most `channels.webchat.max_text_chars` characters (4,096 by default, as Telegram), and a
request body at most one attachment of `dialogue.max_upload_bytes` as base64 plus the text. A refused
request gets a polite Indonesian `error` text (shown by the page), one log line, and nothing is stored."""
from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web
from sqlalchemy import func, select

from bot.core.channel import SendResult
from bot.channels.settings import WebChatSettings
from bot.channels.signed_media import file_response, safe_filename
from bot.channels.webchat_session import ChatSessions, new_session_id
from bot.core.inbound import InboundAttachment, InboundMessage
from bot.core.pipeline import Pipeline
from bot.core.privacy_log import mask_user_id
from bot.core.requester import RequesterKeys
from bot.core.texts import system_text
from storage.db import Database
from storage.models import Conversation, Message

log = logging.getLogger(__name__)

CHANNEL = "webchat"
FILES_PATH = "/webchat/files"
MAX_ATTACHMENTS = 10
MAX_MESSAGE_ID = 64  # the client's id, stored as "<session id>:<message id>" (per-session de-duplication)
BODY_OVERHEAD = 64 * 1024  # JSON keys, file names and the (escaped) text around the base64 data
STATIC = Path(__file__).resolve().parent.parent / "static"
PAGE = STATIC / "webchat.html"
ASSETS = ("webchat.js", "webchat.css")
# the page runs only its own script and style (the JSON text block is data, never executed)
PAGE_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


class BadRequest(Exception):
    """A refused request: `detail` is for developers and the log, the answer text is Indonesian."""

    def __init__(self, detail: str, text_key: str = "webchat_bad_request", **values: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.text_key = text_key
        self.values = values


def max_body_bytes(max_upload_bytes: int) -> int:
    """One attachment of the upload limit as base64, plus room for the text and the JSON around it."""
    return 4 * -(-max_upload_bytes // 3) + BODY_OVERHEAD


def json_response(data: Any, status: int = 200) -> web.Response:
    """A JSON answer (orjson: UTF-8, several times faster than the standard library's encoder)."""
    try:
        body = orjson.dumps(data)
    except orjson.JSONEncodeError:  # e.g. a lone surrogate in a stored text: the standard encoder escapes it
        body = json.dumps(data).encode()
    return web.Response(body=body, status=status, content_type="application/json", charset="utf-8")


def parse_request(payload: Any, session_id: str, max_text_chars: int, requester: str | None = None
                  ) -> InboundMessage:
    """Validate the JSON body of POST /webchat/messages for a session; raises BadRequest naming the field.
    `requester`: the client address key (bot/core/requester.py), for failure budgets."""
    if not isinstance(payload, dict):
        raise BadRequest("body must be a JSON object")
    if "user_id" in payload:
        raise BadRequest("user_id is not accepted: the conversation comes from the session cookie")
    text = payload.get("text", "")
    if not isinstance(text, str):
        raise BadRequest("text must be a string")
    if len(text) > max_text_chars:
        raise BadRequest(f"text longer than {max_text_chars} characters", "webchat_text_too_long",
                         max_chars=f"{max_text_chars:,}".replace(",", "."))  # written the Indonesian way: 4.096
    raw_attachments = payload.get("attachments", [])
    if not isinstance(raw_attachments, list) or len(raw_attachments) > MAX_ATTACHMENTS:
        raise BadRequest(f"attachments must be a list of at most {MAX_ATTACHMENTS} items")
    attachments = []
    for i, item in enumerate(raw_attachments):
        if not isinstance(item, dict) or not isinstance(item.get("data_base64"), str):
            raise BadRequest(f"attachments[{i}] must be an object with data_base64")
        try:
            data = base64.b64decode(item["data_base64"], validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest(f"attachments[{i}].data_base64 is not valid base64") from None
        attachments.append(InboundAttachment(filename=str(item.get("filename") or "")[:200],
                                             content_type=str(item.get("content_type") or "")[:100], data=data))
    if not text.strip() and not attachments:
        raise BadRequest("text or attachments required")
    message_id = payload.get("message_id")
    if message_id is not None and (not isinstance(message_id, str) or not message_id
                                   or len(message_id) > MAX_MESSAGE_ID):
        raise BadRequest(f"message_id must be a non-empty string of at most {MAX_MESSAGE_ID} characters")
    return InboundMessage(channel=CHANNEL, user_id=session_id, text=text.replace("\x00", ""),
                          attachments=tuple(attachments),
                          channel_message_id=f"{session_id}:{message_id}" if message_id else None,
                          requester=requester)


def render_message(message: Message, last_inbound_id: int = 0) -> dict[str, Any]:
    """A message as the page shows it. `answered`: the pilgrim wrote after it (its buttons are spent)."""
    sender = "me" if message.direction == "in" else ("staff" if message.sender == "staff" else "bot")
    return {"id": message.id, "from": sender, "text": message.text, "choices": list(message.choices or []),
            "answered": bool(message.choices) and message.id < last_inbound_id,
            "attachments": [_attachment(message, i, a) for i, a in enumerate(message.attachments or [])]}


def _attachment(message: Message, index: int, attachment: dict[str, Any]) -> dict[str, Any]:
    """A file on a message; one the bot or staff sent has a download link (for this session only)."""
    out = {"filename": attachment.get("filename", ""), "content_type": attachment.get("content_type", "")}
    if message.direction == "out" and attachment.get("sha256"):
        out["url"] = f"{FILES_PATH}/{message.id}/{index}"
    return out


class WebChatChannel:
    """Pull channel: replies go back in the HTTP response or through polling."""

    name = CHANNEL
    push = False

    def __init__(self, pipeline: Pipeline, db: Database, settings: WebChatSettings, sessions: ChatSessions,
                 requesters: RequesterKeys | None = None) -> None:
        self.pipeline = pipeline
        self.db = db
        self.settings = settings
        self.sessions = sessions
        self.max_body = max_body_bytes(pipeline.max_upload_bytes)
        self.requesters = requesters or RequesterKeys([])  # client address key, for failure budgets

    def setup_routes(self, app: web.Application) -> None:
        app[WEBCHAT_KEY] = self
        app.router.add_get("/webchat", self.page)
        for asset in ASSETS:
            app.router.add_get(f"/webchat/{asset}", self.asset)
        app.router.add_post("/webchat/messages", self.post_message)
        app.router.add_get("/webchat/messages", self.poll)
        app.router.add_get(FILES_PATH + "/{message_id:\\d+}/{index:\\d+}", self.download)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def send(self, conversation: Conversation, message: Message) -> SendResult:
        return SendResult(ok=True)  # delivered when the browser polls

    # session ------------------------------------------------------------------------------------
    def _session(self, request: web.Request) -> tuple[str, bool]:
        """The request's session id, and whether it is new (then the response must carry the cookie)."""
        session_id = self.sessions.read(request)
        return (session_id, False) if session_id else (new_session_id(), True)

    def _with_cookie(self, request: web.Request, response: web.StreamResponse, session_id: str) -> None:
        secure = (self.settings.secure_cookies or request.secure
                  or request.headers.get("X-Forwarded-Proto", "").lower() == "https")
        self.sessions.attach(response, session_id, secure)

    # handlers -----------------------------------------------------------------------------------
    async def page(self, request: web.Request) -> web.StreamResponse:
        session_id, _ = self._session(request)
        response = web.FileResponse(PAGE, headers={"Cache-Control": "no-cache", "Content-Security-Policy": PAGE_CSP})
        self._with_cookie(request, response, session_id)  # new, or refreshed (sliding expiry)
        return response

    async def asset(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC / request.path.rsplit("/", 1)[-1], headers={"Cache-Control": "no-cache"})

    async def post_message(self, request: web.Request) -> web.Response:
        session_id, new = self._session(request)
        try:
            inbound = parse_request(await self._read_json(request), session_id, self.settings.max_text_chars,
                                    self.requesters.for_request(request))  # client address, for budgets
        except BadRequest as exc:
            log.warning("webchat: request refused (%s) session=%s", exc.detail, mask_user_id(session_id))
            status = 413 if exc.text_key == "webchat_body_too_large" else 400
            response = json_response({"error": system_text(exc.text_key, **exc.values), "detail": exc.detail},
                                     status=status)
        else:
            result = await self.pipeline.handle(inbound, deliver=True)  # replies stored as sent (returned here)
            response = json_response({"inbound_id": result.message_id,
                                      "messages": [render_message(m) for m in result.replies],
                                      "duplicate": result.duplicate})
        if new:
            self._with_cookie(request, response, session_id)
        return response

    async def poll(self, request: web.Request) -> web.Response:
        """The session's conversation, both sides: the latest messages (after=0, e.g. after a reload), or
        those after a message id."""
        session_id, new = self._session(request)
        if "user_id" in request.query:
            return json_response({"error": system_text("webchat_bad_request"),
                                  "detail": "user_id is not accepted: the conversation comes from the "
                                            "session cookie"}, status=400)
        try:
            after = int(request.query.get("after", "0"))
        except ValueError:
            return json_response({"error": system_text("webchat_bad_request"),
                                  "detail": "after must be an integer"}, status=400)
        rows, last_inbound_id = ([], 0) if new else await self._messages(session_id, after)
        await self.pipeline.mark_delivered([m.id for m in rows if m.direction == "out" and m.status == "pending"])
        response = json_response({"messages": [render_message(m, last_inbound_id) for m in rows]})
        if new:
            self._with_cookie(request, response, session_id)
        return response

    async def download(self, request: web.Request) -> web.StreamResponse:
        """A file the bot sent in this session's conversation (e.g. a letter to print); 404 for any other."""
        session_id = self.sessions.read(request)
        if not session_id:
            raise web.HTTPNotFound()
        message_id, index = int(request.match_info["message_id"]), int(request.match_info["index"])
        async with self.db.session() as session:
            message = (await session.execute(select(Message).join(
                Conversation, Conversation.id == Message.conversation_id).where(
                Message.id == message_id, Message.direction == "out", Conversation.channel == CHANNEL,
                Conversation.channel_user_id == session_id))).scalar_one_or_none()
        attachments = list(message.attachments or []) if message is not None else []
        if index >= len(attachments) or not attachments[index].get("sha256"):
            raise web.HTTPNotFound()
        attachment = attachments[index]
        try:
            data = await self.pipeline.files.read(attachment["sha256"])
        except (ValueError, OSError):
            log.warning("webchat: a sent file is missing message=%s", message_id)
            raise web.HTTPNotFound() from None
        return file_response(data, attachment.get("content_type") or "application/octet-stream",
                             safe_filename(attachment.get("filename") or "", attachment["sha256"]), attachment=True)

    # helpers ------------------------------------------------------------------------------------
    async def _read_json(self, request: web.Request) -> Any:
        """The body as JSON, read no further than the size limit."""
        length = request.content_length
        if length is not None:
            if length > self.max_body:
                raise self._too_large()
            try:  # the HTTP parser passes on no more than Content-Length
                body: bytes | bytearray = await request.content.readexactly(length)
            except asyncio.IncompleteReadError:
                raise BadRequest("body shorter than its Content-Length") from None
        else:  # chunked: counted while it arrives
            body = bytearray()
            async for chunk in request.content.iter_any():
                body += chunk
                if len(body) > self.max_body:
                    raise self._too_large()
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:  # also invalid UTF-8, lone surrogates, numbers beyond 64 bits
            raise BadRequest("body is not valid JSON") from None

    def _too_large(self) -> BadRequest:
        return BadRequest(f"body larger than {self.max_body} bytes", "webchat_body_too_large",
                          max_mb=max(1, self.pipeline.max_upload_bytes // (1024 * 1024)))

    async def _messages(self, session_id: str, after: int) -> tuple[list[Message], int]:
        """Messages of the session's conversation, oldest first, and the id of its latest inbound message."""
        async with self.db.session() as session:
            conversation_id = (await session.execute(select(Conversation.id).where(
                Conversation.channel == CHANNEL, Conversation.channel_user_id == session_id))).scalar_one_or_none()
            if conversation_id is None:
                return [], 0
            query = select(Message).where(Message.conversation_id == conversation_id)
            if after > 0:
                rows = list((await session.execute(query.where(Message.id > after).order_by(Message.id)
                                                   .limit(self.settings.history_messages))).scalars().all())
            else:
                rows = list(reversed((await session.execute(query.order_by(Message.id.desc())
                                                            .limit(self.settings.history_messages))).scalars().all()))
            last_inbound_id = (await session.execute(select(func.max(Message.id)).where(
                Message.conversation_id == conversation_id, Message.direction == "in"))).scalar_one() or 0
        return rows, int(last_inbound_id)


WEBCHAT_KEY: web.AppKey[WebChatChannel] = web.AppKey("webchat", WebChatChannel)
