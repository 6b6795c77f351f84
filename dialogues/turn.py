"""The input of one dialogue step."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dialogues.documents import Inspection
from storage.files import StoredFile
from storage.message_path import ConversationRow
from storage.models import Conversation


@dataclass
class Turn:
    """One inbound message, understood, for one conversation.

    `conversation` is the pipeline's plain row (storage/message_path.py; an ORM `Conversation` works the same):
    the engine replaces `conversation.state` (assign a new dict, never change it in place) and may set other
    columns (`mode`, `pilgrim_id`, `subscribed` ...); the pipeline writes what changed with the replies, in
    the same transaction.
    """

    conversation: ConversationRow | Conversation
    channel: str
    text: str
    parse: dict[str, Any]
    files: list[StoredFile] = field(default_factory=list)
    now: datetime | None = None
    # document checks of `files` done before the conversation was locked (DialogueEngine.check_files),
    # by (sha256, content_type); a file missing here is checked during the step
    inspections: dict[tuple[str, str], Inspection] = field(default_factory=dict)
    # who sent the message besides the conversation (InboundMessage.requester): the failure budgets'
    # client-IP / channel-user scope
    requester: str | None = None
    # the stored inbound message (replies to staff point at it) and what it carries besides documents:
    # voice notes, audio, stickers, locations, contact cards (as stored on the message, with a "kind")
    message_id: int | None = None
    media: list[dict[str, Any]] = field(default_factory=list)
    # (event, case id, extra) for the back office's webhooks, e.g. ("case.pilgrim_replied", 12, {})
    events: list[tuple[str, int, dict[str, Any]]] = field(default_factory=list)
