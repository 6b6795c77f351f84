"""FAQ knowledge base (nlu/data/faq.yml) and its retriever (Rasa ResponseSelector-shaped output)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import yaml

from nlu.features import Featurizer

_KEY = re.compile(r"^[a-z0-9_]+$")


@dataclass
class FaqEntry:
    key: str
    questions: list[str]
    answer: str


class FaqError(ValueError):
    """A problem in the FAQ file, naming the file and the entry."""


def load_faq(path: Path) -> list[FaqEntry]:
    if not path.exists():
        return []
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise FaqError(f"{path}: invalid YAML{f' at line {mark.line + 1}' if mark else ''}") from None
    entries, seen = [], set()
    for n, item in enumerate(doc.get("faq") or [], start=1):
        if not isinstance(item, dict):
            raise FaqError(f"{path}: entry {n} is not a mapping")
        key = str(item.get("key", ""))
        questions = item.get("questions") or []
        answer = item.get("answer")
        if not _KEY.match(key):
            raise FaqError(f"{path}: entry {n}: 'key' must be lowercase letters, digits or _ (got {key!r})")
        if key in seen:
            raise FaqError(f"{path}: entry {n}: duplicate key {key!r}")
        if not isinstance(questions, list) or not questions or not all(isinstance(q, str) for q in questions):
            raise FaqError(f"{path}: entry {key!r}: 'questions' must be a non-empty list of texts")
        if not isinstance(answer, str) or not answer.strip():
            raise FaqError(f"{path}: entry {key!r}: 'answer' must be a non-empty text")
        seen.add(key)
        entries.append(FaqEntry(key, [q.strip() for q in questions], answer.strip()))
    return entries


class FaqRetriever:
    """Score per entry = 0.7 × best cosine over its question phrasings + 0.3 × cosine with the whole entry
    (all questions + answer), which helps long messages that share keywords with the answer."""

    QUESTION_WEIGHT = 0.7
    TEMPERATURE = 0.08  # softmax over entry scores …
    REFERENCE = 0.35  # … scaled down when the best score is below this (weak match)

    def __init__(self, entries: list[FaqEntry]) -> None:
        self.entries = entries
        self.matrix: np.ndarray | None = None  # used features × n_questions, dense float32 (small)
        self.docs: np.ndarray | None = None  # n_features × n_entries
        self.rowmap: np.ndarray = np.zeros(0, dtype=np.int32)  # feature → row in matrix/docs, -1 if unused
        self.owner: np.ndarray = np.zeros(0, dtype=np.int32)

    def fit(self, featurizer: Featurizer, prepare: Callable[[str], str]) -> "FaqRetriever":
        texts, owner = [], []
        for i, entry in enumerate(self.entries):
            for q in entry.questions:
                texts.append(prepare(q))
                owner.append(i)
        if texts:
            self.matrix = np.zeros((featurizer.n_features, len(texts)), dtype=np.float32)
            for col, text in enumerate(texts):
                idx, vals = featurizer.transform_one(text)
                self.matrix[idx, col] = vals
            self.docs = np.zeros((featurizer.n_features, len(self.entries)), dtype=np.float32)
            for col, entry in enumerate(self.entries):
                idx, vals = featurizer.transform_one(prepare(" ".join(entry.questions) + " " + entry.answer))
                self.docs[idx, col] = vals
            self._compact()
        self.owner = np.asarray(owner, dtype=np.int32)
        return self

    def _compact(self) -> None:
        """Keep only feature rows that occur in the FAQ (most of the vocabulary does not): ~4× smaller."""
        assert self.matrix is not None and self.docs is not None
        used = (self.matrix != 0).any(axis=1) | (self.docs != 0).any(axis=1)
        self.rowmap = np.full(len(used), -1, dtype=np.int32)
        self.rowmap[used] = np.arange(int(used.sum()), dtype=np.int32)
        self.matrix = np.ascontiguousarray(self.matrix[used])
        self.docs = np.ascontiguousarray(self.docs[used])

    def scores(self, idx: np.ndarray, vals: np.ndarray) -> np.ndarray:
        """Score per entry (0..1)."""
        best = np.zeros(len(self.entries), dtype=np.float32)
        if self.matrix is None or self.docs is None or not len(idx):
            return best
        rows = self.rowmap[idx]
        keep = rows >= 0
        rows, vals = rows[keep], vals[keep]
        sims = (vals @ self.matrix[rows]) / 2.0  # word and char parts are each unit length
        starts = self._entry_starts()
        if starts is not None:  # questions are stored entry by entry: one max per run of columns
            best = np.maximum(np.maximum.reduceat(sims.astype(np.float32, copy=False), starts), best)
        else:
            np.maximum.at(best, self.owner, sims.astype(np.float32, copy=False))
        return self.QUESTION_WEIGHT * best + (1 - self.QUESTION_WEIGHT) * (vals @ self.docs[rows]) / 2.0

    def _entry_starts(self) -> np.ndarray | None:
        """The first question column of each entry when `owner` is 0,0,…,1,1,… (as `fit` makes it), else None."""
        cached = self.__dict__.get("_starts")
        if cached is None or cached[0] is not self.owner:
            owner, starts = self.owner, None
            if len(owner) and np.array_equal(np.unique(owner), np.arange(len(self.entries))) and \
                    bool(np.all(np.diff(owner) >= 0)):
                starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
            cached = (owner, starts)
            self.__dict__["_starts"] = cached
        return cached[1]

    def confidences(self, scores: np.ndarray) -> np.ndarray:
        """Rasa-like confidences: softmax over entries, damped for weak best matches.

        On the held-out sets ~95% of FAQ questions get ≥ 0.5 and ~5% of other messages do.
        """
        top = scores.max()
        e = np.exp((scores - top) / self.TEMPERATURE)
        return e / e.sum() * min(1.0, float(top) / self.REFERENCE)

    def _response_keys(self) -> list[str]:
        """`faq/<key>` of each entry (made once for the entries the retriever has)."""
        cached = self.__dict__.get("_keys")
        if cached is None or cached[0] is not self.entries or len(cached[1]) != len(self.entries):
            cached = (self.entries, [f"faq/{entry.key}" for entry in self.entries])
            self.__dict__["_keys"] = cached
        return cached[1]

    def select(self, scores: np.ndarray, top: int = 10) -> dict[str, Any]:
        """Rasa `response_selector` payload for the retrieval intent `faq`, from `scores(idx, vals)`."""
        payload: dict[str, Any] = {"all_retrieval_intents": ["faq"]}
        if not self.entries:
            payload["faq"] = {"response": {"id": None, "responses": None, "response_templates": None,
                                           "confidence": 0.0, "intent_response_key": None,
                                           "utter_action": None}, "ranking": []}
            return payload
        sims = self.confidences(scores)
        order = np.argsort(-sims)[:top]
        top_sims = sims[order].tolist()
        keys = self._response_keys()
        ranking = [{"id": i, "confidence": round(c, 4), "intent_response_key": keys[i]}
                   for i, c in zip(order.tolist(), top_sims)]
        best = self.entries[int(order[0])]
        payload["faq"] = {
            "response": {"id": int(order[0]), "responses": [{"text": best.answer}],
                         "response_templates": [{"text": best.answer}],
                         "confidence": ranking[0]["confidence"],
                         "intent_response_key": f"faq/{best.key}", "utter_action": f"utter_faq/{best.key}"},
            "ranking": ranking,
        }
        return payload
