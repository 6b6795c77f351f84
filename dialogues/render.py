"""Renders response templates. A line whose every variable is missing (None) is left out,
so one summary template serves all variants (e.g. no 'Tanggal wafat' line for a living pilgrim)."""
from __future__ import annotations

import string
from typing import Any

_FMT = string.Formatter()


def _missing(value: Any) -> bool:
    return value is None or value == "" or value == []


def render_template(template: str, values: dict[str, Any]) -> str:
    out: list[str] = []
    for line in template.split("\n"):
        fields = [f for _, f, _, _ in _FMT.parse(line) if f is not None and f != ""]
        if fields and all(values.get(f.split(".")[0].split("[")[0]) in (None, []) for f in fields):
            continue
        out.append(_FMT.vformat(line, (), _Defaults(values)))
    return "\n".join(out).strip()


class _Defaults(dict):
    def __init__(self, values: dict[str, Any]) -> None:
        super().__init__(values)

    def __missing__(self, key: str) -> str:
        return "-"

    def __getitem__(self, key: str) -> Any:
        value = super().get(key)
        return "-" if value is None or value == [] else value
