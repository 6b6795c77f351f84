"""The default NLU backend: a small scikit-learn model trained from nlu/data, no network, no downloads."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from nlu.backend import FALLBACK_INTENT, ParseResult
from nlu.model import BuiltinModel, ParseTuning
from nlu.parse_cache import ParseCache
from nlu.settings import NluSettings
from nlu.training import load_or_train

log = logging.getLogger(__name__)


def empty_result(text: Any) -> ParseResult:
    return {"text": text if isinstance(text, str) else "", "intent": {"name": FALLBACK_INTENT, "confidence": 0.0},
            "entities": [], "intent_ranking": [], "response_selector": {"all_retrieval_intents": ["faq"]}}


class BuiltinNLU:
    """Implements nlu.backend.NluBackend. parse() runs inline: it takes well under a millisecond."""

    name = "builtin"

    def __init__(self, model: BuiltinModel, settings: NluSettings) -> None:
        self.model = model
        self.settings = settings
        self.tuning = ParseTuning(temperature=settings.builtin_temperature, off_domain_factor=settings.off_domain_factor,
                                  faq_boost=settings.faq_boost, off_topic_factor=settings.off_topic_factor)
        self._closed = False
        self.cache = ParseCache(settings.parse_cache_size)

    @classmethod
    def load(cls, data_dir: Path, cache_dir: Path, settings: NluSettings) -> "BuiltinNLU":
        """Load the cached model, training it first when the cache is missing or stale."""
        return cls(load_or_train(Path(data_dir), Path(cache_dir), settings), settings)

    def parse_sync(self, text: str) -> ParseResult:
        """Never raises: any failure yields nlu_fallback with no entities."""
        if not isinstance(text, str) or not text.strip():
            return empty_result(text)
        cached = self.cache.get(text)
        if cached is not None:
            return cached
        try:
            s = self.settings
            result = self.model.parse(text, s.max_chars, s.fallback_threshold, self.tuning)
        except Exception:
            log.exception("built-in NLU failed on a message of %d chars", len(text))
            return empty_result(text)
        self.cache.put(text, result)
        return result

    async def parse(self, text: str) -> ParseResult:
        return self.parse_sync(text)

    def is_ready(self) -> bool:
        return not self._closed

    async def close(self) -> None:
        self._closed = True
