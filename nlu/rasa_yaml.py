"""Read Rasa 3 NLU YAML (intents with annotated examples, synonyms, regexes, lookups)."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

# [text](entity) or [text](entity:value) or [text]{"entity": "x", "value": "y"}
_ANNOTATION = re.compile(r"\[(?P<text>[^\]]+)\](?:\((?P<paren>[^)]+)\)|(?P<json>\{[^}]*\}))")


@dataclass
class Example:
    text: str
    intent: str
    entities: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class NluData:
    examples: list[Example] = field(default_factory=list)
    synonyms: dict[str, list[str]] = field(default_factory=dict)
    regexes: dict[str, list[str]] = field(default_factory=dict)
    lookups: dict[str, list[str]] = field(default_factory=dict)


def parse_annotated(raw: str) -> tuple[str, list[dict[str, Any]]]:
    """Strip entity annotations from one example; return the plain text and entity spans."""
    text_parts: list[str] = []
    entities: list[dict[str, Any]] = []
    pos = 0
    length = 0
    for m in _ANNOTATION.finditer(raw):
        before = raw[pos:m.start()]
        text_parts.append(before)
        length += len(before)
        surface = m.group("text")
        if m.group("json"):
            spec = json.loads(m.group("json"))
            name, value = spec["entity"], spec.get("value", surface)
        else:
            name, _, value = m.group("paren").partition(":")
            value = value or surface
        entities.append({"entity": name, "value": value, "start": length, "end": length + len(surface)})
        text_parts.append(surface)
        length += len(surface)
        pos = m.end()
    text_parts.append(raw[pos:])
    return "".join(text_parts), entities


def _items(block: str) -> list[str]:
    out = []
    for line in (block or "").splitlines():
        line = line.strip()
        if line.startswith("- "):
            out.append(line[2:].strip())
    return out


class NluDataError(ValueError):
    """A problem in an NLU data file, naming the file (and line when known)."""


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise NluDataError(f"{path}:{where} invalid YAML ({getattr(exc, 'problem', None) or exc})") from None
    except UnicodeDecodeError:
        raise NluDataError(f"{path}: not UTF-8 text") from None


def load_file(path: Path, into: NluData | None = None) -> NluData:
    data = into or NluData()
    doc = _read_yaml(path) or {}
    items = doc.get("nlu") if isinstance(doc, dict) else None
    if not isinstance(items, list):
        raise NluDataError(f"{path}: expected a top-level 'nlu:' list")
    for n, item in enumerate(items, start=1):
        if not isinstance(item, dict) or not isinstance(item.get("examples", ""), str):
            raise NluDataError(f"{path}: nlu item {n}: expected a mapping with an 'examples: |' block")
        examples = _items(item.get("examples", ""))
        if "intent" in item:
            for raw in examples:
                try:
                    text, ents = parse_annotated(raw)
                except (ValueError, KeyError):
                    raise NluDataError(f"{path}: intent {item['intent']!r}: bad entity annotation in {raw!r}") from None
                data.examples.append(Example(text, str(item["intent"]), ents))
        elif "synonym" in item:
            data.synonyms.setdefault(str(item["synonym"]), []).extend(examples)
        elif "regex" in item:
            data.regexes.setdefault(str(item["regex"]), []).extend(examples)
        elif "lookup" in item:
            data.lookups.setdefault(str(item["lookup"]), []).extend(examples)
    return data


def is_nlu_file(path: Path) -> bool:
    """Like Rasa: a YAML file with a top-level `nlu` key (faq.yml and others are skipped)."""
    doc = _read_yaml(path)
    return isinstance(doc, dict) and "nlu" in doc


def load_nlu(path: Path) -> NluData:
    """A single file, or every NLU YAML file (with an `nlu:` key) directly in a directory."""
    if path.is_file():
        return load_file(path)
    data = NluData()
    for p in sorted(path.glob("*.yml")) + sorted(path.glob("*.yaml")):
        if is_nlu_file(p):
            load_file(p, data)
    return data
