"""Loads response templates from dialogues/responses/*.yml and renders them."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


class ResponseError(Exception):
    pass


class Responses:
    def __init__(self, templates: dict[str, Any]) -> None:
        self.templates = templates

    @classmethod
    def load(cls, directory: Path) -> "Responses":
        templates: dict[str, Any] = {}
        for path in sorted(directory.glob("*.yml")):
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            if not isinstance(data, dict):
                raise ResponseError(f"{path}: expected a mapping of template keys")
            templates.update(data)
        return cls(templates)

    def text(self, key: str, **values: Any) -> str:
        return str(self.templates[key]).format(**values)

    def items(self, key: str) -> list[str]:
        return [str(v) for v in self.templates[key]]
