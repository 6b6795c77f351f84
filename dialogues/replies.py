"""What the dialogue engine says: channel-independent replies that each channel renders its own way."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Reply:
    """One outbound message: text, optional choices (buttons / numbered list), optional attachments."""

    text: str
    choices: list[str] = field(default_factory=list)
    attachments: list[dict] = field(default_factory=list)  # StoredFile.to_json() dicts
