"""System message templates (bot/texts/*.yml)."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

_DIR = Path(__file__).parent


@lru_cache(maxsize=1)
def _templates() -> dict[str, str]:
    merged: dict[str, str] = {}
    for path in sorted(_DIR.glob("*.yml")):
        merged.update(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    return merged


def system_text(key: str, **values: Any) -> str:
    """Render a system message template."""
    return _templates()[key].format(**values)


def text_too_long(max_chars: int) -> str:
    """The polite answer to an over-long message, the limit written the Indonesian way (4.096)."""
    return system_text("channel_text_too_long", max_chars=f"{max_chars:,}".replace(",", "."))
