"""Reads the office-editable YAML files, keeping line numbers so errors can name file and line."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from dialogues.errors import DialogueConfigError


class LineDict(dict):
    """A mapping that remembers the line it started on."""

    line: int = 0


class _LineLoader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    out = LineDict()
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in out:
            raise DialogueConfigError(f"line {key_node.start_mark.line + 1}: duplicate key '{key}'")
        out[key] = loader.construct_object(value_node, deep=True)
    out.line = node.start_mark.line + 1
    return out


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def read_yaml(path: Path) -> Any:
    """Parse one YAML file; raise DialogueConfigError naming the file and line."""
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_LineLoader)  # noqa: S506 (safe subclass)
    except DialogueConfigError as exc:
        raise DialogueConfigError(f"{path}: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}:" if mark else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise DialogueConfigError(f"{path}:{where} invalid YAML ({problem})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DialogueConfigError(f"{path}: cannot read ({exc})") from None


def line_of(data: Any, loc: tuple[Any, ...]) -> int | None:
    """The line of the deepest mapping on the path `loc` inside `data`."""
    line = getattr(data, "line", None)
    node = data
    for part in loc:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            break
        line = getattr(node, "line", None) or line
    return line


def validate(model: type[BaseModel], data: Any, path: Path | str, origin: dict[str, Path] | None = None) -> Any:
    """Validate `data` against `model`; on error raise a one-line DialogueConfigError."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise DialogueConfigError(describe(exc, data, path, origin)) from None


def describe(exc: ValidationError, data: Any, path: Path | str, origin: dict[str, Path] | None = None) -> str:
    first = exc.errors()[0]
    loc = tuple(first["loc"])
    if origin and loc and loc[0] in origin:
        path = origin[loc[0]]
    line = line_of(data, loc)
    where = f" line {line}:" if line else ""
    key = ".".join(str(p) for p in loc) or "(top)"
    if first["type"] == "missing":
        what = f"missing key '{key}'"
    elif first["type"] == "extra_forbidden":
        what = f"unknown key '{key}'"
    else:
        what = f"'{key}': {first['msg']}"
    return f"{path}:{where} {what}"
