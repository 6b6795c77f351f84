"""Web chat channel: a JSON endpoint for one message and its replies, a poll endpoint for later
messages (e.g. from staff), and a small browser page at /webchat."""
from __future__ import annotations

import base64
import binascii
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import select

from bot.channels.base import SendResult
from bot.inbound import InboundAttachment, InboundMessage
from bot.pipeline import Pipeline
from bot.requester import RequesterKeys
from storage.db import Database
from storage.models import Conversation, Message

CHANNEL = "webchat"
MAX_USER_ID = 128
MAX_ATTACHMENTS = 10
PAGE = Path(__file__).resolve().parent.parent / "static" / "webchat.html"


class BadRequest(Exception):
    pass


def parse_request(payload: Any) -> InboundMessage:
    """Validate the JSON body of POST /webchat/messages; raises BadRequest naming the field."""
    if not isinstance(payload, dict):
        raise BadRequest("body must be a JSON object")
    user_id = payload.get("user_id")
    if not isinstance(user_id, str) or not user_id.strip() or len(user_id) > MAX_USER_ID:
        raise BadRequest("user_id must be a non-empty string of at most 128 characters")
    text = payload.get("text", "")
    if not isinstance(text, str):
        raise BadRequest("text must be a string")
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
    if message_id is not None and (not isinstance(message_id, str) or len(message_id) > 128):
        raise BadRequest("message_id must be a string of at most 128 characters")
    text = text.replace("\x00", "")
    return InboundMessage(channel=CHANNEL, user_id=user_id.strip(), text=text, attachments=tuple(attachments),
                          channel_message_id=message_id)


def render_message(message: Message) -> dict[str, Any]:
    return {"id": message.id, "text": message.text, "choices": list(message.choices or []),
            "attachments": [{"filename": a.get("filename", ""), "content_type": a.get("content_type", "")}
                            for a in message.attachments or []]}


class WebChatChannel:
    """Pull channel: replies go back in the HTTP response or through polling."""

    name = CHANNEL
    push = False

    def __init__(self, pipeline: Pipeline, db: Database, requesters: RequesterKeys | None = None) -> None:
        self.pipeline = pipeline
        self.db = db
        self.requesters = requesters or RequesterKeys([])

    def setup_routes(self, app: web.Application) -> None:
        app.router.add_get("/webchat", self.page)
        app.router.add_post("/webchat/messages", self.post_message)
        app.router.add_get("/webchat/messages", self.poll)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def send(self, conversation: Conversation, message: Message) -> SendResult:
        return SendResult(ok=True)  # delivered when the browser polls

    async def page(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(PAGE, headers={"Cache-Control": "no-cache"})

    async def post_message(self, request: web.Request) -> web.Response:
        try:
            payload = await request.json(loads=json.loads)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _error(400, "body is not valid JSON")
        try:
            inbound = parse_request(payload)
        except BadRequest as exc:
            return _error(400, str(exc))
        inbound = replace(inbound, requester=self.requesters.for_request(request))  # client address, for budgets
        result = await self.pipeline.handle(inbound, deliver=True)  # replies stored as sent (returned here)
        return web.json_response({"messages": [render_message(m) for m in result.replies],
                                  "duplicate": result.duplicate})

    async def poll(self, request: web.Request) -> web.Response:
        user_id = request.query.get("user_id", "")
        try:
            after = int(request.query.get("after", "0"))
        except ValueError:
            return _error(400, "after must be an integer")
        if not user_id or len(user_id) > MAX_USER_ID:
            return _error(400, "user_id required")
        async with self.db.session() as session:
            conversation = (await session.execute(select(Conversation).where(
                Conversation.channel == CHANNEL, Conversation.channel_user_id == user_id))).scalar_one_or_none()
            if conversation is None:
                return web.json_response({"messages": []})
            rows = (await session.execute(select(Message).where(
                Message.conversation_id == conversation.id, Message.direction == "out", Message.id > after)
                .order_by(Message.id).limit(100))).scalars().all()
        await self.pipeline.mark_delivered([m.id for m in rows if m.status == "pending"])
        return web.json_response({"messages": [render_message(m) for m in rows]})


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)
