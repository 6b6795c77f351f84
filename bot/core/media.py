"""What an inbound attachment is: a document (photo, PDF), or media the bot cannot read as a document
(voice note, audio, video, sticker). Locations and contact cards arrive as shares (no file)."""
from __future__ import annotations

from typing import Any

DOCUMENT = "document"
VOICE = "voice"
AUDIO = "audio"
VIDEO = "video"
STICKER = "sticker"
LOCATION = "location"
CONTACT = "contact"
MEDIA_KINDS = (VOICE, AUDIO, VIDEO, STICKER, LOCATION, CONTACT)
SHARE_FIELDS = {LOCATION: ("latitude", "longitude", "label"), CONTACT: ("name", "phone")}
MAX_SHARE_CHARS = 200


def attachment_kind(channel_kind: str, claimed_type: str, sniffed_type: str) -> str:
    """The kind of a stored file. The channel's word wins (a Telegram voice note, a WhatsApp sticker);
    otherwise audio/video by the sniffed bytes or the claimed type; everything else is a document."""
    if channel_kind in (VOICE, AUDIO, VIDEO, STICKER):
        return channel_kind
    for content_type in (sniffed_type, claimed_type):
        major = (content_type or "").split("/", 1)[0].lower()
        if major == "audio":
            return AUDIO
        if major == "video":
            return VIDEO
    return DOCUMENT


def share_json(share: dict[str, Any]) -> dict[str, str] | None:
    """A location or contact share as stored on the message (known fields only, length-capped)."""
    kind = str(share.get("kind") or "")
    if kind not in SHARE_FIELDS:
        return None
    out = {"kind": kind}
    for name in SHARE_FIELDS[kind]:
        value = share.get(name)
        if value not in (None, ""):
            out[name] = str(value)[:MAX_SHARE_CHARS]
    return out


def is_document(attachment: dict[str, Any]) -> bool:
    """A stored attachment that may become a case document (not media, not rejected, not a share)."""
    return bool(attachment.get("sha256")) and not attachment.get("rejected") and \
        attachment.get("kind", DOCUMENT) == DOCUMENT


def media_of(attachments: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The media and shares among a message's stored attachments."""
    return [a for a in attachments if a.get("kind") in MEDIA_KINDS and not a.get("rejected")]
