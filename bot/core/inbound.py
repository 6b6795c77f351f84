"""What every channel adapter produces: a platform-independent inbound message."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone


@dataclass(frozen=True)
class InboundAttachment:
    filename: str
    content_type: str  # as claimed by the platform; the store sniffs the real type
    data: bytes
    kind: str = ""  # what the platform says it is: "voice", "audio", "sticker", "video"; "" = a file/photo


@dataclass(frozen=True)
class InboundMessage:
    channel: str
    user_id: str
    text: str
    attachments: tuple[InboundAttachment, ...] = ()
    channel_message_id: str | None = None
    at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    display_name: str | None = None
    # who sent it, beyond the conversation, for failure budgets (dialogues/throttle.py): set by the channel
    # adapter - 'ip:<hash>' of the web-chat client address, 'tg:<user id>', 'wa:<phone>'; None when unknown
    requester: str | None = None
    # things shared that are not files: {"kind": "location", "latitude": "...", "longitude": "...", "label": "..."}
    # or {"kind": "contact", "name": "...", "phone": "..."}; kept on the message for staff
    shares: tuple[dict[str, str], ...] = ()
