"""Broadcast texts from texts.yml: pilgrim-facing lines, ready-made templates, staff labels."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

TEXTS_PATH = Path(__file__).with_name("texts.yml")


@dataclass(frozen=True)
class ReadyTemplate:
    key: str
    title: str
    text: str


@lru_cache(maxsize=1)
def _texts() -> dict[str, Any]:
    data = yaml.safe_load(TEXTS_PATH.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{TEXTS_PATH}: expected a mapping")
    return data


def text(key: str, **values: Any) -> str:
    """A pilgrim-facing line (footer, fallbacks...)."""
    value = str(_texts()[key])
    return value.format(**values) if values else value


def staff_text(key: str, **values: Any) -> str:
    """A staff-facing label or message."""
    value = str(_texts()["staff"][key])
    return value.format(**values) if values else value


def staff_texts() -> dict[str, str]:
    return {str(k): str(v) for k, v in _texts()["staff"].items()}


def ready_templates() -> dict[str, ReadyTemplate]:
    """The ready-made announcements, in file order."""
    return {key: ReadyTemplate(key, str(v["title"]), str(v["text"])) for key, v in _texts()["templates"].items()}
