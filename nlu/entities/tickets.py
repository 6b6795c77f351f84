"""Case ticket codes: PBT-2026-00042 (pembatalan), PLH- (pelimpahan), REG- (pendaftaran)."""
from __future__ import annotations

import re

PREFIXES = ("PBT", "PLH", "REG")
_TICKET = re.compile(r"(?<![A-Za-z0-9])(PBT|PLH|REG)\s*[-_/.]?\s*(20\d\d)\s*[-_/.]?\s*(\d{1,5})(?!\d)", re.IGNORECASE)


def extract_tickets(text: str) -> list[tuple[str, str, int, int, float]]:
    out = []
    for m in _TICKET.finditer(text):
        value = f"{m.group(1).upper()}-{m.group(2)}-{int(m.group(3)):05d}"
        out.append(("ticket", value, m.start(), m.end(), 1.0))
    return out
