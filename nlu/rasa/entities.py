"""Entity post-processing for Rasa results.

Rasa's DIET/regex extractors return raw spans ("0300 5511 22", "2 jan 24"), but the dialogues need
normalised values (digits only, +62 phones, ISO dates, canonical tickets). In "hybrid" mode the
structured types come from our deterministic extractors (nlu.entities, the same ones the built-in
backend uses) and Rasa keeps the rest (e.g. relationship via its lookup table + synonyms).
"""
from __future__ import annotations

from typing import Any, Literal

from nlu.entities import extract_entities

EntityMode = Literal["rasa", "hybrid"]
STRUCTURED: frozenset[str] = frozenset({"porsi_number", "nik", "phone", "ticket", "date"})


def _overlaps(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return a["start"] < b["end"] and b["start"] < a["end"]


def merge_entities(text: str, rasa_entities: list[dict[str, Any]], mode: EntityMode = "hybrid") -> list[dict[str, Any]]:
    """Entities for `text`: Rasa's as-is ("rasa") or rule-extracted structured types plus Rasa's others."""
    if mode == "rasa":
        return rasa_entities

    rules = [e for e in extract_entities(text) if e["entity"] in STRUCTURED]
    kept = [e for e in rasa_entities
            if e["entity"] not in STRUCTURED and not any(_overlaps(e, r) for r in rules)]
    return sorted(rules + kept, key=lambda e: (e["start"], e["end"], e["entity"]))
