"""Reading a top-level message beyond one intent: several questions in one message, references to the bot's
last numbered list ("no 2 dan 3 gmn?"), and messages about other topics (out of scope)."""
from __future__ import annotations

import re
from typing import Any

from dialogues.parsing import contains_phrase, normalize

INFO_ANSWERS = ("ask_cost", "ask_schedule", "ask_office")
MAX_ANSWERS = 3
PART_CONFIDENCE = 0.5
FAQ_CONFIDENCE = 0.5

_REF_WORD = re.compile(r"\b(?:no|nomor|nomer|nmr|yg|yang|poin|pilihan|angka|nan)\.?\s*(\d{1,2})\b")
_REF_PAIR = re.compile(r"\b(\d{1,2})\s*(?:,|&|\+|dan|dn|sama|sm|serta|jo|samo)\s*(\d{1,2})\b")
_SMALL_NUMBER = re.compile(r"(?<![\d/.:-])(\d{1,2})(?![\d/.:-])")
MAX_REF_WORDS = 8


def numbered_references(text: str) -> list[int] | None:
    """1-based item numbers a short message refers to ("yg no 3 gmn" → [3], "no 2 dan 3?" → [2, 3]);
    None when the message is not such a reference (a bare "3" is left to the menu pick)."""
    low = (text or "").lower()
    if len(normalize(low).split()) > MAX_REF_WORDS or re.search(r"\d{3,}", low):
        return None
    if not (_REF_WORD.search(low) or _REF_PAIR.search(low)):
        return None
    out: list[int] = []
    for m in _SMALL_NUMBER.finditer(low):
        n = int(m.group(1))
        if n >= 1 and n not in out:
            out.append(n)
    return out or None


def is_choice_number(text: str) -> bool:
    """A bare choice number ("3", "3.", "no 3"): a pick from the last list, whatever the NLU thinks of it."""
    return re.fullmatch(r"\s*(?:no|nomor|pilih|pilihan)?\.?\s*\d{1,2}\s*[.)]?\s*", (text or "").lower()) is not None


def reading_is_out_of_scope(parse: dict[str, Any] | None) -> bool:
    """The NLU reads the message as another topic: out_of_scope on top, or a fallback whose best guess is it."""
    parse = parse or {}
    name = (parse.get("intent") or {}).get("name")
    if name == "out_of_scope":
        return True
    if name != "nlu_fallback":
        return False
    ranked = [r.get("name") for r in parse.get("intent_ranking") or [] if r.get("name") != "nlu_fallback"]
    return bool(ranked) and ranked[0] == "out_of_scope"


def faq_response(selector: dict[str, Any] | None, min_confidence: float) -> str | None:
    """The FAQ answer of a response_selector when its confidence reaches `min_confidence`."""
    for key in ("faq", "default"):
        response = ((selector or {}).get(key) or {}).get("response") or {}
        responses = response.get("responses") or []
        try:
            confidence = float(response.get("confidence") or 0.0)
        except (TypeError, ValueError):
            continue
        if confidence >= min_confidence and responses and responses[0].get("text"):
            return str(responses[0]["text"])
    return None


def topic_key(texts: list[str], topics: Any, default: str) -> str:
    """The response key of the first out-of-scope topic whose words occur in the message (responses
    `out_of_scope_topics`: [{words: [...], say: key}]), else `default`."""
    for topic in topics if isinstance(topics, list) else []:
        words = [str(w) for w in (topic or {}).get("words") or []]
        if words and any(contains_phrase(t, words) for t in texts):
            return str(topic.get("say") or default)
    return default
