"""Turns a Rasa /model/parse answer into our ParseResult contract (see nlu/backend.py)."""
from __future__ import annotations

from typing import Any

from nlu.backend import FALLBACK_INTENT, INTENTS, ParseResult

_KNOWN = frozenset(INTENTS) | {FALLBACK_INTENT}


def fallback_result(text: str) -> ParseResult:
    """The answer given when Rasa cannot be asked or gave nothing usable."""
    return {
        "text": text,
        "intent": {"name": FALLBACK_INTENT, "confidence": 0.0},
        "entities": [],
        "intent_ranking": [],
        "response_selector": {},
    }


def intent_name(raw: Any) -> str:
    """Map a Rasa intent name onto ours: retrieval intents ("faq/x") keep their base name,
    anything outside the contract becomes the fallback intent."""
    if not isinstance(raw, str) or not raw:
        return FALLBACK_INTENT
    base = raw.split("/", 1)[0]
    return base if base in _KNOWN else FALLBACK_INTENT


def _confidence(value: Any) -> float:
    try:
        return max(0.0, min(1.0, float(value)))
    except (TypeError, ValueError):
        return 0.0


def _intent(raw: Any) -> dict[str, Any]:
    raw = raw if isinstance(raw, dict) else {}
    return {"name": intent_name(raw.get("name")), "confidence": _confidence(raw.get("confidence"))}


def _entity(raw: Any) -> dict[str, Any] | None:
    if not isinstance(raw, dict) or not isinstance(raw.get("entity"), str):
        return None
    try:
        start, end = int(raw["start"]), int(raw["end"])
    except (KeyError, TypeError, ValueError):
        return None
    # Regex/lookup extractors give no confidence: they are exact matches.
    confidence = raw.get("confidence_entity", raw.get("confidence", 1.0))
    entity: dict[str, Any] = {
        "entity": raw["entity"],
        "value": raw.get("value"),
        "start": start,
        "end": end,
        "confidence": _confidence(1.0 if confidence is None else confidence),
        "extractor": str(raw.get("extractor") or "rasa"),
    }
    for optional in ("role", "group", "processors"):
        if raw.get(optional) is not None:
            entity[optional] = raw[optional]
    return entity


def _dedupe_entities(entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """When two extractors found the same span and type, keep the most confident one."""
    best: dict[tuple[str, int, int], dict[str, Any]] = {}
    for ent in entities:
        key = (ent["entity"], ent["start"], ent["end"])
        if key not in best or ent["confidence"] > best[key]["confidence"]:
            best[key] = ent
    return sorted(best.values(), key=lambda e: (e["start"], e["end"], e["entity"]))


def _ranking(raw: Any) -> list[dict[str, Any]]:
    merged: dict[str, float] = {}
    for item in raw if isinstance(raw, list) else []:
        if isinstance(item, dict):
            name = intent_name(item.get("name"))
            merged[name] = max(merged.get(name, 0.0), _confidence(item.get("confidence")))
    return [{"name": n, "confidence": c} for n, c in sorted(merged.items(), key=lambda kv: -kv[1])]


def normalize_parse(raw: Any, text: str) -> ParseResult:
    """Normalise a Rasa answer; `text` is the caller's original (untruncated) message."""
    if not isinstance(raw, dict):
        return fallback_result(text)
    entities = [e for e in (_entity(x) for x in raw.get("entities") or []) if e is not None]
    selector = raw.get("response_selector")
    return {
        "text": text,
        "intent": _intent(raw.get("intent")),
        "entities": _dedupe_entities(entities),
        "intent_ranking": _ranking(raw.get("intent_ranking")),
        "response_selector": selector if isinstance(selector, dict) else {},
    }
