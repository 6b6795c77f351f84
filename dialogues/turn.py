"""The input of one dialogue step."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from storage.files import StoredFile
from storage.models import Conversation


@dataclass
class Turn:
    """One inbound message, understood, for one conversation.

    `conversation` is attached to the pipeline's session; the engine replaces `conversation.state`
    (assign a new dict) and the pipeline commits it with the replies in the same transaction.
    """

    conversation: Conversation
    channel: str
    text: str
    parse: dict[str, Any]
    files: list[StoredFile] = field(default_factory=list)
    now: datetime | None = None
