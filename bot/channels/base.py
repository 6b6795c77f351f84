"""A channel is a plug-in: an input side (aiohttp routes turning platform payloads into InboundMessage)
and an output side (`send`, used by the outbox for push channels)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from aiohttp import web

from storage.models import Conversation, Message


@dataclass(frozen=True)
class SendResult:
    """Outcome of one delivery attempt."""

    ok: bool
    provider_message_id: str | None = None
    retry_after: float | None = None  # seconds the platform asked us to wait (429)
    permanent: bool = False  # never retry (user blocked the bot, invalid number)
    error: str | None = None
    undeliverable: bool = False  # e.g. outside the WhatsApp 24-hour window without a template


class ChannelPlugin(Protocol):
    name: str
    push: bool  # True: the outbox sends; False: replies are pulled by the caller (web chat, console)

    def setup_routes(self, app: web.Application) -> None: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def send(self, conversation: Conversation, message: Message) -> SendResult: ...
