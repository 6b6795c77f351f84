"""A channel is a plug-in: an input side (aiohttp routes turning platform payloads into InboundMessage)
and an output side (`send`, used by the outbox for push channels)."""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

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


Part = Callable[[], Awaitable[Any]]


class PartProgress:
    """Sends one stored message that the platform needs as several calls (files, then text chunks). Parts sent
    in an earlier attempt of the same message are skipped on retry (remembered in memory, per message id)."""

    def __init__(self) -> None:
        self._done: dict[int, int] = {}

    async def send(self, message_id: int, parts: list[Part], error_result: Callable[[Exception], SendResult],
                   provider_id: Callable[[Any], str]) -> SendResult:
        """Run the parts not sent yet; the result carries the provider id of the last part."""
        last_id: str | None = None
        for index, part in enumerate(parts):
            if index < self._done.get(message_id, 0):
                continue
            try:
                sent = await part()
            except Exception as exc:  # noqa: BLE001 - mapped (or re-raised) by the channel's error_result
                self._done[message_id] = index
                return error_result(exc)
            last_id = provider_id(sent)
        self._done.pop(message_id, None)
        return SendResult(ok=True, provider_message_id=last_id)
