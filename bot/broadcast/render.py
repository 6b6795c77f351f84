"""Per-recipient text: the variables {nama} {estimasi_tahun} {nomor_porsi_masked}, and the opt-out line."""
from __future__ import annotations

import string
from dataclasses import dataclass

from bot.broadcast.texts import text

VARIABLES = ("nama", "estimasi_tahun", "nomor_porsi_masked")


class TemplateError(ValueError):
    """The message text has an unknown variable or unbalanced braces."""

    def __init__(self, message: str, name: str = "") -> None:
        super().__init__(message)
        self.name = name


@dataclass(frozen=True)
class Recipient:
    """What a message may say about its recipient (None when the chat is not linked to the registry)."""

    conversation_id: int
    channel: str
    channel_user_id: str
    display_name: str | None = None
    nama: str | None = None
    estimasi_tahun: int | None = None
    nomor_porsi: str | None = None


def check_template(body: str, allow: list[str] | tuple[str, ...] = ()) -> None:
    """Raise TemplateError for unknown variables, positional fields or bad braces (`allow`: more names that are
    accepted here, e.g. season placeholders reported separately)."""
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(body) if f is not None]
    except ValueError as exc:
        raise TemplateError(f"invalid braces: {exc}") from None
    for field in fields:
        if field not in VARIABLES and field not in allow:
            raise TemplateError(f"unknown variable {{{field}}}", field)


def mask_porsi(nomor: str | None) -> str | None:
    """Keep only the last 3 digits: 0312345678 -> *******678."""
    if not nomor:
        return None
    return "*" * max(0, len(nomor) - 3) + nomor[-3:]


def values_for(recipient: Recipient) -> dict[str, str]:
    nama = recipient.nama.title() if recipient.nama else (recipient.display_name or "").strip()
    return {
        "nama": nama or text("fallback_nama"),
        "estimasi_tahun": str(recipient.estimasi_tahun) if recipient.estimasi_tahun else text("fallback_estimasi_tahun"),
        "nomor_porsi_masked": mask_porsi(recipient.nomor_porsi) or text("fallback_nomor_porsi_masked"),
    }


def render(body: str, recipient: Recipient, test: bool = False) -> str:
    """The message one recipient gets: the body with its variables, then the line telling how to stop."""
    filled = body.format_map(values_for(recipient)).strip()
    prefix = text("test_prefix") if test else ""
    return f"{prefix}{filled}\n\n{text('footer')}"
