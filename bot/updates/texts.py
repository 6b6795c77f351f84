"""Staff-facing texts of personal updates (texts.yml): labels for the back office and the CLI."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

TEXTS_PATH = Path(__file__).with_name("texts.yml")


@lru_cache(maxsize=1)
def texts() -> dict[str, Any]:
    data = yaml.safe_load(TEXTS_PATH.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{TEXTS_PATH}: expected a mapping")
    return data


def staff_text(key: str, **values: Any) -> str:
    value = str(texts()[key])
    return value.format(**values) if values else value


def kind_label(kind: str) -> str:
    """'status:berhak_lunas' -> 'status menjadi berhak lunas'; 'estimasi:maju' -> 'estimasi maju'."""
    labels = texts()["kind"]
    if kind in labels:
        return str(labels[kind])
    family, _, value = kind.partition(":")
    return str(labels["status"]).format(status=value.replace("_", " ")) if family == "status" else kind


def label(group: str, key: str) -> str:
    """A state, reason or delivery label; the key itself when the file has none."""
    return str(texts()[group].get(key, key))
