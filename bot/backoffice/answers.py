"""Readable rows of a case's stored answers (the dialogue stores labels and bookkeeping under `_` keys)."""
from __future__ import annotations

from typing import Any

from bot.backoffice.texts import staff_text


def _text(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return staff_text("value_yes") if value else staff_text("value_no")
    if isinstance(value, (list, tuple)):
        return ", ".join(_text(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_text(v)}" for k, v in value.items())
    return str(value)


def answer_rows(answers: dict[str, Any] | None) -> list[tuple[str, str]]:
    """(label, value) for each answer; a choice shows its label, bookkeeping keys are left out."""
    answers = answers or {}
    labels = answers.get("_labels") if isinstance(answers.get("_labels"), dict) else {}
    rows = []
    for key, value in answers.items():
        if key.startswith("_") or (key.endswith("_label") and key[:-6] in answers):
            continue
        shown = answers.get(f"{key}_label") or value
        rows.append((str(labels.get(key) or key), _text(shown)))
    return rows


def checklist_key(answers: dict[str, Any] | None) -> str | None:
    value = (answers or {}).get("_checklist")
    return str(value) if value else None
