"""Rule-based entity extractors. All offsets refer to the ORIGINAL message text."""
from __future__ import annotations

import re
from typing import Any

from nlu.entities.dates import extract_dates
from nlu.entities.numbers import extract_numbers
from nlu.entities.relationships import extract_relationships
from nlu.entities.tickets import extract_tickets

Entity = dict[str, Any]
EXTRACTOR = "builtin_rules"
_DIGIT = re.compile(r"\d")


def make_entity(entity: str, value: str, start: int, end: int, confidence: float = 1.0) -> Entity:
    return {"entity": entity, "value": value, "start": start, "end": end,
            "confidence": confidence, "extractor": EXTRACTOR}


def extract_entities(text: str) -> list[Entity]:
    """Tickets and dates first; numbers and relationships never overlap an earlier span."""
    found: list[Entity] = []
    taken: list[tuple[int, int]] = []

    def free(start: int, end: int) -> bool:
        return all(end <= s or start >= e for s, e in taken)

    # tickets, dates and numbers all need a digit
    extractors = (extract_tickets, extract_dates, extract_numbers) if _DIGIT.search(text) else ()
    for extractor in (*extractors, extract_relationships):
        for name, value, start, end, conf in extractor(text):
            if free(start, end):
                found.append(make_entity(name, value, start, end, conf))
                taken.append((start, end))
    found.sort(key=lambda e: e["start"])
    return found
