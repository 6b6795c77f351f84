"""Broadcast texts from texts.yml: pilgrim-facing lines, ready-made templates, staff labels."""
from __future__ import annotations

import re
import string
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


SEASON_NAME = re.compile(r"^(tahun_|tanggal_)[a-z0-9_]+$")


def season_fields(body: str) -> list[str]:
    """The season placeholders ({tahun_haji}, {tahun_hijriah}, {tanggal_...}) used in `body`."""
    try:
        names = [f for _, f, _, _ in string.Formatter().parse(body) if f]
    except ValueError:
        return []
    return [n for n in names if SEASON_NAME.match(n)]


def fill_season(body: str, season: dict[str, str]) -> str:
    """Put the current season's values (broadcast.season in config.yml) into `body`; per-recipient variables
    ({nama} ...) and season values not announced yet stay as placeholders."""
    for name in season_fields(body):
        value = str(season.get(name, "") or "").strip()
        if value:
            body = body.replace("{" + name + "}", value)
    return body


def ready_templates(season: dict[str, str] | None = None) -> dict[str, ReadyTemplate]:
    """The ready-made announcements, in file order, with the season's values filled in."""
    season = season or {}
    return {key: ReadyTemplate(key, fill_season(str(v["title"]), season), fill_season(str(v["text"]), season))
            for key, v in _texts()["templates"].items()}


def number(n: int | float) -> str:
    """12345 -> '12.345' (Indonesian thousands separator)."""
    return f"{int(n):,}".replace(",", ".")


def duration(seconds: float) -> str:
    """'2 jam 5 menit', '3 menit 20 detik', '1 hari 4 jam' (the two largest units); 'segera' under a second."""
    total = int(round(seconds))
    if total < 1:
        return staff_text("plan_instant")
    parts: list[str] = []
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        value, total = divmod(total, size)
        if value or parts:
            parts.append(f"{value} {staff_text('unit_' + unit)}")
        if len(parts) == 2:
            break
    return " ".join(p for p in parts if not p.startswith("0 ")) or staff_text("plan_instant")
