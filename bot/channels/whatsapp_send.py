"""Outbound WhatsApp through Twilio: free-form inside the 24-hour customer-service window (choices as a
numbered list, or a quick-reply template when configured; one media file per message), an approved
Content template outside it, or `undeliverable` when no template fits."""
from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from twilio.rest import Client

from bot.core.channel import Part, PartProgress, SendResult
from bot.channels.settings import WhatsAppSettings, WhatsAppTemplate
from bot.channels.whatsapp_twilio import error_result
from bot.core.texts import system_text
from storage.models import Conversation, Message

log = logging.getLogger(__name__)

MAX_BODY = 1600  # Twilio's limit for one WhatsApp message body
MAX_BUTTON_TITLE = 20  # WhatsApp quick-reply button titles
NOTIFICATION = "notification"
# outside the window, a message from these senders uses its own approved template when configured
# (else 'notification'): personal updates after a registry import (bot/updates)
SENDER_TEMPLATES = {"update": "pilgrim_update"}


def or_list(items: list[str]) -> str:
    """'1', '1 atau 2', '1, 2 atau 3' (the conjunction comes from the texts file)."""
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {system_text('whatsapp_choices_or')} {items[-1]}"


def numbered(text: str, choices: list[str]) -> str:
    """The message text followed by a numbered list of the choices and 'Balas 1, 2 atau 3.'"""
    if not choices:
        return text
    lines = [text.rstrip(), ""] if text.strip() else []
    lines += [system_text("whatsapp_choice_line", number=i, label=label) for i, label in enumerate(choices, 1)]
    lines += ["", system_text("whatsapp_choices_hint", numbers=or_list([str(i) for i in range(1, len(choices) + 1)]))]
    return "\n".join(lines)


def split_body(text: str, limit: int = MAX_BODY) -> list[str]:
    parts: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        cut = max(rest.rfind("\n\n", 0, limit), rest.rfind("\n", 0, limit), rest.rfind(" ", 0, limit))
        cut = cut if cut > 0 else limit
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    return parts + ([rest] if rest else [])


class _Blank(dict):  # type: ignore[type-arg]
    def __missing__(self, key: str) -> str:
        return ""


def template_variables(template: WhatsAppTemplate, values: dict[str, str]) -> str:
    """Content variables as the JSON string Twilio expects; WhatsApp refuses empty variables."""
    rendered = {}
    for key, pattern in template.variables.items():
        value = pattern.format_map(_Blank(values)).strip()[: template.max_variable_chars]
        rendered[key] = value or "-"
    return json.dumps(rendered, ensure_ascii=False)




class WhatsAppSender:
    def __init__(self, client: Client, config: WhatsAppSettings, office_name: str,
                 media_url: Callable[[dict[str, Any]], str | None], status_callback: str | None,
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        self.client = client
        self.config = config
        self.office_name = office_name
        self.media_url = media_url
        self.status_callback = status_callback
        self.clock = clock
        self._progress = PartProgress()

    def in_window(self, conversation: Conversation) -> bool:
        last = conversation.last_inbound_at
        return last is not None and self.clock() - last < timedelta(hours=self.config.window_hours)

    async def send(self, conversation: Conversation, message: Message) -> SendResult:
        if self.in_window(conversation):
            parts = self._free_form(conversation, message)
        else:
            template = self._outside_window_template(message)
            if template is None:
                return SendResult(ok=False, undeliverable=True,
                                  error="outside the 24-hour window and no 'notification' template configured")
            parts = [self._template_part(conversation, message, template)]
        return await self._progress.send(message.id, parts, error_result, lambda created: created.sid)

    def _outside_window_template(self, message: Message) -> WhatsAppTemplate | None:
        own = SENDER_TEMPLATES.get(message.sender or "")
        return (self.config.templates.get(own) if own else None) or self.config.templates.get(NOTIFICATION)

    # message shapes -----------------------------------------------------------------------------
    def _free_form(self, conversation: Conversation, message: Message) -> list[Part]:
        choices = [str(c) for c in message.choices or []]
        quick = None
        if 2 <= len(choices) <= 3 and all(len(c) <= MAX_BUTTON_TITLE for c in choices):
            quick = self.config.templates.get(f"quick_reply_{len(choices)}")
        parts: list[Part] = []
        for attachment in message.attachments or []:
            url = self.media_url(attachment)
            if url is None:
                log.warning("whatsapp: cannot send a file without channels.whatsapp.public_url")
                continue
            parts.append(lambda url=url: self._create(conversation, media_url=[url]))
        if quick is not None:
            parts.append(self._template_part(conversation, message, quick))
            return parts
        for chunk in split_body(numbered(message.text or "", choices)):
            parts.append(lambda chunk=chunk: self._create(conversation, body=chunk))
        return parts

    async def send_template(self, conversation: Conversation, message: Message, purpose: str) -> SendResult:
        """Send `message` with the configured template `purpose` (e.g. 'broadcast'), window or not."""
        template = self.config.templates.get(purpose)
        if template is None:
            return SendResult(ok=False, undeliverable=True, error=f"no '{purpose}' WhatsApp template configured")
        try:
            created = await self._template_part(conversation, message, template)()
        except Exception as exc:  # noqa: BLE001 - mapped or re-raised by error_result
            return error_result(exc)
        return SendResult(ok=True, provider_message_id=created.sid)

    async def send_text(self, user_id: str, text: str) -> Any:
        """A plain text outside the outbox (notices such as 'file too large'); raises on errors."""
        return await self._create(Conversation(channel="whatsapp", channel_user_id=user_id), body=text)

    def _template_part(self, conversation: Conversation, message: Message, template: WhatsAppTemplate) -> Part:
        values = {"text": message.text or "", "office_name": self.office_name,
                  "name": conversation.display_name or ""}
        values.update({f"choice{i}": str(c) for i, c in enumerate(message.choices or [], 1)})
        return lambda: self._create(conversation, content_sid=template.content_sid,
                                    content_variables=template_variables(template, values))

    async def _create(self, conversation: Conversation, **kwargs: Any) -> Any:
        sender: dict[str, Any] = ({"messaging_service_sid": self.config.messaging_service_sid}
                                  if self.config.messaging_service_sid else {"from_": self.config.from_number})
        if self.status_callback:
            kwargs["status_callback"] = self.status_callback
        return await self.client.messages.create_async(to=conversation.channel_user_id, **sender, **kwargs)
