"""The contract every NLU backend fulfils: text in, a Rasa-shaped parse result out."""
from __future__ import annotations

from typing import Any, Protocol

ParseResult = dict[str, Any]
"""Rasa /model/parse shape: {"text", "intent": {"name", "confidence"}, "entities": [...],
"intent_ranking": [...], "response_selector": {...}}."""

INTENTS: tuple[str, ...] = (
    "greet", "goodbye", "thanks", "affirm", "deny", "menu", "check_porsi", "check_case_status",
    "cancel_registration", "transfer_porsi", "register_hajj", "ask_cost", "ask_schedule", "ask_office",
    "human_handoff", "subscribe", "unsubscribe", "stop", "faq", "out_of_scope",
)
FALLBACK_INTENT = "nlu_fallback"
ENTITIES: tuple[str, ...] = ("porsi_number", "nik", "phone", "relationship", "ticket", "date")


class NluBackend(Protocol):
    """Implemented by the built-in classifier and by the Rasa HTTP client."""

    name: str

    async def parse(self, text: str) -> ParseResult:
        """Understand one message. Never raises for any text input."""
        ...

    def is_ready(self) -> bool:
        """True when the model is loaded (used by /readyz)."""
        ...

    async def close(self) -> None:
        ...
