"""The trained built-in model: normaliser + featuriser + intent classifier + FAQ retriever."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nlu.backend import FALLBACK_INTENT
from nlu.classifier import IntentClassifier
from nlu.entities import extract_entities
from nlu.faq import FaqRetriever
from nlu.features import Featurizer, masked_text
from nlu.normalize import Normalizer
from nlu.rules import override
from nlu.split import split_questions

# Intents about Hajj administration: they need some Hajj word in the message to keep full confidence.
DOMAIN_INTENTS = frozenset({"check_porsi", "check_case_status", "cancel_registration", "transfer_porsi",
                            "register_hajj", "ask_cost", "ask_schedule", "ask_office", "faq"})


@dataclass
class BuiltinModel:
    normalizer: Normalizer
    featurizer: Featurizer
    classifier: IntentClassifier
    faq: FaqRetriever
    fingerprint: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def prepare(self, text: str, max_chars: int) -> tuple[str, list[dict[str, Any]]]:
        norm, _, entities = self._prepare(text, max_chars)
        return norm, entities

    def _prepare(self, text: str, max_chars: int) -> tuple[str, str, list[dict[str, Any]]]:
        """(classifier text, normalised input, entities); the two texts are one when nothing was masked."""
        entities = extract_entities(text)
        masked = masked_text(text, entities, max_chars)
        norm = self.normalizer(masked)
        cut = text[:max_chars]
        return norm, norm if masked == cut else self.normalizer(cut), entities

    def _domain_mask(self) -> np.ndarray:
        mask = self.__dict__.get("_dmask")
        if mask is None:
            mask = np.array([label in DOMAIN_INTENTS for label in self.classifier.labels])
            self.__dict__["_dmask"] = mask
        return mask

    @staticmethod
    def _to_out_of_scope(probs: np.ndarray, oos: int, factor: float) -> np.ndarray:
        """Another topic is named and no Hajj word: every other intent keeps `factor` of its probability,
        the rest moves to out_of_scope."""
        out = probs * factor
        out[oos] = probs[oos] + (probs.sum() - probs[oos]) * (1.0 - factor)
        return out

    def parse(self, text: str, max_chars: int, threshold: float, tuning: "ParseTuning | None" = None,
              split: bool = True) -> dict[str, Any]:
        """Rasa /model/parse shaped result; `text` is returned unchanged. With `split`, a message that asks
        several questions also gets `parts`: each question's own text, intent, ranking and FAQ answer."""
        t = tuning or ParseTuning()
        norm, text_normalized, entities = self._prepare(text, max_chars)
        idx, vals = self.featurizer.transform_one(norm)
        faq_scores = self.faq.scores(idx, vals)
        labels = self.classifier.labels
        if not norm.strip() or not len(idx):
            probs = np.full(len(labels), 1.0 / max(len(labels), 1))
        else:
            boost = None
            if t.faq_boost and "faq" in labels and len(faq_scores):
                # a close match in the FAQ knowledge base is evidence for the faq intent
                boost = {labels.index("faq"): t.faq_boost * (float(faq_scores.max()) - t.faq_pivot)}
            probs = self.classifier.predict(idx, vals, t.temperature, boost)
            if self.featurizer.word_coverage(norm) == 0.0:
                probs = probs * 0.5  # no known word at all: likely gibberish or another language
            if t.off_domain_factor < 1.0 and not self.normalizer.lex.is_domain_text(norm):
                probs = np.where(self._domain_mask(), probs * t.off_domain_factor, probs)
            if t.off_topic_factor < 1.0 and "out_of_scope" in labels and self.normalizer.lex.is_off_topic_text(
                    norm + " " + " ".join(re.findall(r"\w+", text[:max_chars].lower()))):
                probs = self._to_out_of_scope(probs, labels.index("out_of_scope"), t.off_topic_factor)
        order = np.argsort(-probs)[:10]
        ranking = [(labels[i], p) for i, p in zip(order.tolist(), probs[order].tolist())]
        forced = override(norm, entities, ranking) if ranking else None
        if forced:
            ranking = [forced] + [r for r in ranking if r[0] != forced[0]][:9]
        name, conf = ranking[0] if ranking else (FALLBACK_INTENT, 0.0)
        if conf < threshold:  # as Rasa's FallbackClassifier: fallback on top with the threshold as confidence
            name, conf = FALLBACK_INTENT, threshold
            ranking = [(name, conf)] + ranking[:9]
        result = {
            "text": text,
            "text_normalized": text_normalized,
            "intent": {"name": name, "confidence": round(conf, 4)},
            "entities": entities,
            "intent_ranking": [{"name": n, "confidence": round(c, 4)} for n, c in ranking],
            "response_selector": self.faq.select(faq_scores),
        }
        if split:
            parts = split_questions(text[:max_chars], self.normalizer.lex)
            if len(parts) > 1:
                result["parts"] = [self._part(p, max_chars, threshold, t) for p in parts]
        return result

    def _part(self, text: str, max_chars: int, threshold: float, tuning: "ParseTuning") -> dict[str, Any]:
        r = self.parse(text, max_chars, threshold, tuning, split=False)
        return {"text": text, "text_normalized": r["text_normalized"], "intent": r["intent"],
                "intent_ranking": r["intent_ranking"][:3], "entities": r["entities"],
                "response_selector": r["response_selector"]}


@dataclass(frozen=True)
class ParseTuning:
    """Run-time knobs (from NluSettings); defaults were chosen by 5-fold cross-validation on nlu/data."""

    temperature: float = 0.8
    off_domain_factor: float = 0.4
    faq_boost: float = 5.0
    faq_pivot: float = 0.4
    off_topic_factor: float = 0.3
