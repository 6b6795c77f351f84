"""nlu/data/faq.yml as a Rasa retrieval intent, so Rasa's ResponseSelector picks FAQ answers.

Each entry becomes the retrieval intent `faq/<key>` (its questions are the examples) and the
response `utter_faq/<key>` (its answer). Rasa then returns `response_selector.faq.response.responses`,
the same place the built-in backend puts FAQ answers for the dialogues.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from nlu.faq import load_faq

FAQ_FILE = "faq.yml"
_MARKUP = re.compile(r"[\[\]\(\)\{\}]")  # Rasa would read these as entity annotations


def faq_file(data_dir: Path) -> Path | None:
    path = data_dir / FAQ_FILE
    return path if path.exists() else None


def faq_training_data(path: Path) -> tuple[dict[str, Any], dict[str, list[dict[str, str]]]]:
    """(Rasa NLU document with faq/<key> intents, domain responses utter_faq/<key>)."""
    nlu: list[dict[str, str]] = []
    responses: dict[str, list[dict[str, str]]] = {}
    for entry in load_faq(path):
        questions = [_MARKUP.sub(" ", q).strip() for q in entry.questions]
        examples = "".join(f"- {q}\n" for q in questions if q)
        if examples:
            nlu.append({"intent": f"faq/{entry.key}", "examples": examples})
            responses[f"utter_faq/{entry.key}"] = [{"text": entry.answer}]
    return {"version": "3.1", "nlu": nlu}, responses
