"""Turn a message into classifier input: mask entity spans, normalise, then fast TF-IDF features.

Runtime code here is numpy-only (no scikit-learn/scipy import), which keeps the service's memory small.
"""
from __future__ import annotations

import re
from collections import Counter
from typing import Any, Iterable

import numpy as np

from nlu.normalize import Normalizer

PLACEHOLDERS = {"porsi_number": " nomorporsi ", "nik": " nomornik ", "phone": " nomorhp ",
                "ticket": " kodetiket ", "date": " tanggalx "}
_YEAR = re.compile(r"\b(19|20)\d\d\b")
_NUMBER = re.compile(r"\d+")
_TOKEN = re.compile(r"[a-z0-9_]+")
WORD_NGRAMS = (1, 2)
CHAR_NGRAMS = (2, 5)
_WORD_CACHE_MAX, _WORD_CACHE_LEN = 10_000, 24  # words (of at most _LEN letters) whose char n-gram ids are kept


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


def masked_text(text: str, entities: list[dict[str, Any]], max_chars: int) -> str:
    """The input truncated to max_chars with entities and numbers replaced by placeholder words."""
    cut = text[:max_chars]
    masked = mask_entities(cut, [e for e in entities if e["end"] <= len(cut)])
    masked = _YEAR.sub(" angkatahun ", masked)
    return _NUMBER.sub(" angka ", masked)


def classification_text(text: str, entities: list[dict[str, Any]], normalizer: Normalizer, max_chars: int) -> str:
    """The normalised string the classifier sees (input truncated to max_chars)."""
    return normalizer(masked_text(text, entities, max_chars))


_PREFIX = re.compile(r"^(meng|meny|mem|men|me|peng|peny|pem|pen|pe|di|ber|be|ter|ke|se)")
_SUFFIX = re.compile(r"(nya|lah|kah|kan|an|i)$")


def stem(word: str) -> str:
    """Rough Indonesian stem for long words: dibatalkan → batal, pelimpahan → limpah, porsinya → porsi."""
    if len(word) < 6:
        return word
    cut = _SUFFIX.sub("", word)
    word = cut if len(cut) >= 4 else word
    cut = _PREFIX.sub("", word)
    return cut if len(cut) >= 4 else word


def word_ngrams(text: str) -> list[str]:
    """Word 1–2-grams plus `~stem` features for long words (helps unseen inflections)."""
    tokens = _TOKEN.findall(text)
    grams = list(tokens)
    for n in range(2, WORD_NGRAMS[1] + 1):
        grams.extend(" ".join(tokens[i:i + n]) for i in range(len(tokens) - n + 1))
    grams.extend("~" + stem(t) for t in tokens if len(t) >= 6)
    return grams


def char_ngrams(text: str) -> list[str]:
    """Character n-grams inside word boundaries (like scikit-learn's char_wb)."""
    grams: list[str] = []
    lo, hi = CHAR_NGRAMS
    for word in text.split():
        w = f" {word} "
        for n in range(lo, min(hi, len(w)) + 1):
            grams.extend(w[i:i + n] for i in range(len(w) - n + 1))
    return grams


class Featurizer:
    """Word 1–2-gram + char_wb 2–5-gram TF-IDF (sublinear tf), each part L2-normalised, concatenated.

    Fitting uses scikit-learn (imported lazily); the fitted state is plain dicts and numpy arrays.
    """

    def __init__(self) -> None:
        self.word_vocab: dict[str, int] = {}
        self.char_vocab: dict[str, int] = {}
        self.word_idf = np.zeros(0, dtype=np.float32)
        self.char_idf = np.zeros(0, dtype=np.float32)

    @property
    def n_word(self) -> int:
        return len(self.word_vocab)

    @property
    def n_features(self) -> int:
        return len(self.word_vocab) + len(self.char_vocab)

    def fit(self, texts: list[str]) -> "Featurizer":
        from sklearn.feature_extraction.text import TfidfVectorizer

        word = TfidfVectorizer(analyzer=word_ngrams, sublinear_tf=True, min_df=1).fit(texts)
        char = TfidfVectorizer(analyzer=char_ngrams, sublinear_tf=True, min_df=2).fit(texts)
        self.word_vocab = {k: int(v) for k, v in word.vocabulary_.items()}
        self.char_vocab = {k: int(v) for k, v in char.vocabulary_.items()}
        self.word_idf = word.idf_.astype(np.float32)
        self.char_idf = char.idf_.astype(np.float32)
        return self

    @staticmethod
    def _weights(counts: dict[int, int], idf: np.ndarray, offset: int) -> tuple[np.ndarray, np.ndarray]:
        """Sublinear tf × idf of the counted feature ids, L2-normalised; ids keep their first-seen order
        (the order of the sums in the classifier, so results stay bit-identical)."""
        if not counts:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        idx = np.fromiter(counts, dtype=np.int64, count=len(counts))
        tf = 1.0 + np.log(np.fromiter(counts.values(), dtype=np.float32, count=len(counts)))
        vals = tf * idf[idx]
        vals /= np.sqrt(vals.dot(vals))  # what np.linalg.norm computes, without its checks
        return idx + offset if offset else idx, vals

    def _word_counts(self, text: str) -> dict[int, int]:
        vocab = self.word_vocab
        return {vocab[g]: c for g, c in Counter(word_ngrams(text)).items() if g in vocab}

    def _char_counts(self, text: str) -> Counter[int]:
        """Known char n-gram ids of each word are kept per word: chat repeats its words."""
        cache = self.__dict__.get("_char_ids")
        if cache is None or cache[0] is not self.char_vocab or len(cache[1]) > _WORD_CACHE_MAX:
            cache = (self.char_vocab, {})
            self.__dict__["_char_ids"] = cache
        vocab, known = cache
        ids: list[int] = []
        for word in text.split():
            word_ids = known.get(word)
            if word_ids is None:
                word_ids = tuple(vocab[g] for g in char_ngrams(word) if g in vocab)
                if len(word) <= _WORD_CACHE_LEN:
                    known[word] = word_ids
            ids += word_ids
        return Counter(ids)

    def transform_one(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """Sparse (indices, values) of one text."""
        wi, wv = self._weights(self._word_counts(text), self.word_idf, 0)
        ci, cv = self._weights(self._char_counts(text), self.char_idf, self.n_word)
        return np.concatenate([wi, ci]), np.concatenate([wv, cv]).astype(np.float32, copy=False)

    def transform(self, texts: list[str]):
        """Batch transform to a scipy CSR matrix (training only)."""
        from scipy.sparse import csr_matrix

        rows, cols, vals = [], [], []
        for r, text in enumerate(texts):
            idx, v = self.transform_one(text)
            rows.extend([r] * len(idx))
            cols.extend(idx.tolist())
            vals.extend(v.tolist())
        return csr_matrix((vals, (rows, cols)), shape=(len(texts), self.n_features), dtype=np.float32)

    def word_coverage(self, text: str) -> float:
        """Share of the text's words known to the word vocabulary (0 for no words)."""
        words = text.split()
        return sum(w in self.word_vocab for w in words) / len(words) if words else 0.0
