"""The built-in model's cache file: only numbers and texts (numpy .npz, read with allow_pickle=False), never
code. The fitted state (vocabularies, weights, FAQ vectors, spelling counts) is stored; lexicons and FAQ
entries are read again from the data directory, which the file's fingerprint ties it to (nlu/training.py).
A file that is unreadable, of another format version, of other data, or not made of plain arrays is
refused (None), and the caller trains anew."""
from __future__ import annotations

import json
import logging
import zipfile
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from nlu.classifier import IntentClassifier
from nlu.faq import FaqRetriever, load_faq
from nlu.features import Featurizer
from nlu.lexicon import load_lexicons
from nlu.model import BuiltinModel
from nlu.normalize import Normalizer
from nlu.spelling import SpellCorrector

log = logging.getLogger(__name__)

FORMAT = "hajibot-builtin-nlu/1"
SUFFIX = ".npz"


def _strings(values: list[str]) -> np.ndarray:
    return np.array(values, dtype=np.str_) if values else np.zeros(0, dtype="<U1")


def _vocab_array(vocab: dict[str, int]) -> np.ndarray:
    """A vocabulary (term -> 0..n-1) as its terms in index order."""
    return _strings(sorted(vocab, key=vocab.__getitem__))


def write(model: BuiltinModel, fh: BinaryIO) -> None:
    """Write the model's fitted state to an open binary file."""
    speller = model.normalizer.speller
    header = {"format": FORMAT, "fingerprint": model.fingerprint, "meta": model.meta,
              "labels": model.classifier.labels, "c": model.classifier.c,
              "temperature": model.classifier.temperature, "faq_keys": [e.key for e in model.faq.entries],
              "faq_fitted": model.faq.matrix is not None, "speller": speller is not None}
    arrays: dict[str, np.ndarray] = {
        "header": np.array(json.dumps(header)),
        "word_vocab": _vocab_array(model.featurizer.word_vocab), "char_vocab": _vocab_array(model.featurizer.char_vocab),
        "word_idf": model.featurizer.word_idf, "char_idf": model.featurizer.char_idf,
        "coef_t": model.classifier.coef_t, "bias": model.classifier.bias,
        "faq_rowmap": model.faq.rowmap, "faq_owner": model.faq.owner,
    }
    if model.faq.matrix is not None and model.faq.docs is not None:
        arrays.update(faq_matrix=model.faq.matrix, faq_docs=model.faq.docs)
    if speller is not None:
        arrays.update(speller_words=_strings(list(speller.counts)),
                      speller_counts=np.array(list(speller.counts.values()), dtype=np.int64))
    np.savez(fh, **arrays)


def read(path: Path, fingerprint: str, lexicon_dir: Path, faq_file: Path) -> BuiltinModel | None:
    """The model stored at `path` for `fingerprint`, rebuilt with the data's lexicons and FAQ; None when the
    file cannot be used (the reason is logged)."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
        header = json.loads(str(arrays["header"]))
        if header.get("format") != FORMAT or header.get("fingerprint") != fingerprint:
            log.warning("ignoring NLU cache %s: another format or other data", path)
            return None
        return _assemble(header, arrays, lexicon_dir, faq_file)
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
        log.warning("ignoring unreadable NLU cache %s (%s)", path, type(exc).__name__)
        return None


def _assemble(header: dict[str, Any], arrays: dict[str, np.ndarray], lexicon_dir: Path,
              faq_file: Path) -> BuiltinModel | None:
    faq = FaqRetriever(load_faq(faq_file))
    if [e.key for e in faq.entries] != header["faq_keys"]:
        return None
    normalizer = Normalizer(load_lexicons(lexicon_dir))
    if header["speller"]:
        words = arrays["speller_words"].tolist()
        normalizer.set_speller(SpellCorrector(dict(zip(words, arrays["speller_counts"].tolist()))))
    featurizer = Featurizer()
    featurizer.word_vocab = {term: i for i, term in enumerate(arrays["word_vocab"].tolist())}
    featurizer.char_vocab = {term: i for i, term in enumerate(arrays["char_vocab"].tolist())}
    featurizer.word_idf, featurizer.char_idf = arrays["word_idf"], arrays["char_idf"]
    classifier = IntentClassifier(c=float(header["c"]), temperature=float(header["temperature"]))
    classifier.labels = [str(label) for label in header["labels"]]
    classifier.coef_t, classifier.bias = arrays["coef_t"], arrays["bias"]
    if classifier.coef_t.shape != (featurizer.n_features, len(classifier.labels)):
        return None
    if header["faq_fitted"]:
        faq.matrix, faq.docs = arrays["faq_matrix"], arrays["faq_docs"]
    faq.rowmap, faq.owner = arrays["faq_rowmap"], arrays["faq_owner"]
    return BuiltinModel(normalizer, featurizer, classifier, faq, fingerprint=str(header["fingerprint"]),
                        meta=dict(header["meta"]))
