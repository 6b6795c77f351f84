"""Renders response templates. A line whose every variable is missing (None) is left out,
so one summary template serves all variants (e.g. no 'Tanggal wafat' line for a living pilgrim).

Templates are parsed once (`compile_template`, cached): a template without variables renders to the same text
whatever the values, and is rendered once. A line whose fields are plain names (no positional field, no nested
field in a format spec) is rendered by `str.format_map`, the C twin of `string.Formatter.vformat` (same parser,
same lookups through the mapping's `__getitem__`, same `format()` of each value); any other line by the Formatter
itself, so every template renders, or fails, as before."""
from __future__ import annotations

import string
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

_FMT = string.Formatter()


def _missing(value: Any) -> bool:
    return value is None or value == "" or value == []


@dataclass(frozen=True)
class _Line:
    text: str
    roots: tuple[str, ...]  # the named variables of the line, by their first name (`a` of `a.b` or `a[0]`)
    literal: str | None  # the rendered line when it has no variable at all
    plain: bool = False  # every field is a name with a standard conversion and a spec without fields


_CONVERSIONS = (None, "r", "s", "a")


def _plain(parsed: list[tuple[str, str | None, str | None, str | None]]) -> bool:
    """True when `str.format_map` renders the line exactly as `string.Formatter().vformat(line, (), mapping)`."""
    for _, field, spec, conversion in parsed:
        if field is None:
            continue
        root = field.split(".")[0].split("[")[0]
        if not root or root.isdigit() or conversion not in _CONVERSIONS or "{" in (spec or ""):
            return False
    return True


@dataclass(frozen=True)
class CompiledTemplate:
    lines: tuple[_Line, ...]
    static: str | None  # the rendered text of a template without variables


@lru_cache(maxsize=4096)
def compile_template(template: str) -> CompiledTemplate:
    lines = []
    for line in template.split("\n"):
        parsed = list(_FMT.parse(line))
        fields = [f for _, f, _, _ in parsed if f is not None and f != ""]
        roots = tuple(f.split(".")[0].split("[")[0] for f in fields)
        has_field = any(f is not None for _, f, _, _ in parsed)
        lines.append(_Line(line, roots, None if has_field else _FMT.vformat(line, (), {}), _plain(parsed)))
    static = None
    if all(line.literal is not None for line in lines):
        static = "\n".join(line.literal for line in lines if line.literal is not None).strip()
    return CompiledTemplate(tuple(lines), static)


def static_text(template: str) -> str | None:
    """The rendered text of a template without variables (None when it has some)."""
    return compile_template(template).static


def render_template(template: str, values: dict[str, Any]) -> str:
    compiled = compile_template(template)
    if compiled.static is not None:
        return compiled.static
    out: list[str] = []
    defaults = _Defaults(values)
    for line in compiled.lines:
        if line.literal is not None:
            out.append(line.literal)
            continue
        if line.roots and all(values.get(root) in (None, []) for root in line.roots):
            continue
        out.append(line.text.format_map(defaults) if line.plain else _FMT.vformat(line.text, (), defaults))
    return "\n".join(out).strip()


class _Defaults(dict):
    def __init__(self, values: dict[str, Any]) -> None:
        super().__init__(values)

    def __missing__(self, key: str) -> str:
        return "-"

    def __getitem__(self, key: str) -> Any:
        value = super().get(key)
        return "-" if value is None or value == [] else value
