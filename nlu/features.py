"""Turn a message into classifier input: mask entity spans, normalise, then fast TF-IDF features."""
from __future__ import annotations

import re
from collections import Counter
from typing import Any, Iterable

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from nlu.normalize import Normalizer

PLACEHOLDERS = {"porsi_number": " nomorporsi ", "nik": " nomornik ", "phone": " nomorhp ",
                "ticket": " kodetiket ", "date": " tanggalx "}
_YEAR = re.compile(r"\b(19|20)\d\d\b")
_NUMBER = re.compile(r"\d+")


def mask_entities(text: str, entities: Iterable[dict[str, Any]]) -> str:
    """Replace number-like entity spans by placeholder words (spans refer to `text`)."""
    out, pos = [], 0
    for ent in sorted(entities, key=lambda e: e["start"]):
        word = PLACEHOLDERS.get(ent["entity"])
        if word is None or ent["start"] < pos or ent["end"] > len(text):
            continue
        out.append(text[pos:ent["start"]])
        out.append(word)
        pos = ent["end"]
    out.append(text[pos:])
    return "".join(out)


def classification_text(text: str, entities: list[dict[str, Any]], normalizer: Normalizer, max_chars: int) -> str:
    """The normalised string the classifier sees (input truncated to max_chars)."""
    cut = text[:max_chars]
    masked = mask_entities(cut, [e for e in entities if e["end"] <= len(cut)])
    masked = _YEAR.sub(" angkatahun ", masked)
    masked = _NUMBER.sub(" angka ", masked)
    return normalizer(masked)


class Featurizer:
    """Word 1–2-gram + char_wb 2–5-gram TF-IDF, each part L2-normalised.

    Fitted with scikit-learn; transform is a small pure-Python/numpy version that returns sparse
    (indices, values) for one text, ~10× faster than sklearn's transform on single messages.
    """

    def __init__(self) -> None:
        self.word = TfidfVectorizer(analyzer="word", ngram_range=(1, 2), token_pattern=r"[a-z0-9_]+",
                                    sublinear_tf=True, min_df=1)
        self.char = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2)
        self.n_word = 0
        self.n_features = 0
        self._ready = False

    def fit(self, texts: list[str]) -> "Featurizer":
        self.word.fit(texts)
        self.char.fit(texts)
        self.n_word = len(self.word.vocabulary_)
        self.n_features = self.n_word + len(self.char.vocabulary_)
        self._prepare()
        return self

    def _prepare(self) -> None:
        self._word_vocab = self.word.vocabulary_
        self._char_vocab = self.char.vocabulary_
        self._word_idf = self.word.idf_.astype(np.float32)
        self._char_idf = self.char.idf_.astype(np.float32)
        self._word_an = self.word.build_analyzer()
        self._char_an = self.char.build_analyzer()
        self._ready = True

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        for k in ("_word_an", "_char_an", "_word_vocab", "_char_vocab", "_word_idf", "_char_idf"):
            state.pop(k, None)
        state["_ready"] = False
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._prepare()

    @staticmethod
    def _part(grams: list[str], vocab: dict[str, int], idf: np.ndarray, offset: int) -> tuple[list[int], np.ndarray]:
        counts = Counter(g for g in grams if g in vocab)
        if not counts:
            return [], np.zeros(0, dtype=np.float32)
        idx = [vocab[g] for g in counts]
        tf = 1.0 + np.log(np.fromiter(counts.values(), dtype=np.float32, count=len(counts)))
        vals = tf * idf[idx]
        vals /= np.linalg.norm(vals)
        return [i + offset for i in idx], vals

    def transform_one(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        wi, wv = self._part(self._word_an(text), self._word_vocab, self._word_idf, 0)
        ci, cv = self._part(self._char_an(text), self._char_vocab, self._char_idf, self.n_word)
        return np.asarray(wi + ci, dtype=np.int64), np.concatenate([wv, cv])

    def word_coverage(self, text: str) -> float:
        """Share of the text's words known to the word vocabulary (0 for no words)."""
        words = text.split()
        return sum(w in self._word_vocab for w in words) / len(words) if words else 0.0

    def transform(self, texts: list[str]):
        """Batch transform (training only), same values as transform_one."""
        from scipy.sparse import hstack
        return hstack([self.word.transform(texts), self.char.transform(texts)]).tocsr()
