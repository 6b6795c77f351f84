"""Train the built-in model from nlu/data and cache it, keyed by a hash of data + code version."""
from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

from nlu.backend import INTENTS
from nlu.classifier import IntentClassifier
from nlu.faq import FaqRetriever, load_faq
from nlu.features import Featurizer
from nlu.lexicon import lexicon_files, load_lexicons
from nlu import model_store
from nlu.model import BuiltinModel
from nlu.normalize import Normalizer
from nlu.rasa_yaml import Example, NluData, NluDataError, load_nlu
from nlu.settings import NluSettings
from nlu.spelling import SpellCorrector

log = logging.getLogger(__name__)
_ROOT = Path(__file__).resolve().parent.parent

CODE_VERSION = "builtin-nlu-1"  # bump when featurisation, normalisation or model code changes
FAQ_FILE = "faq.yml"
LEXICON_DIR = "lexicons"
MODEL_PREFIX = "builtin-"


@dataclass
class TrainResult:
    path: Path
    seconds: float
    examples: int
    intents: int
    faq_entries: int


def data_files(data_dir: Path) -> list[Path]:
    files = sorted(p for p in data_dir.glob("*.yml")) + sorted(p for p in data_dir.glob("*.yaml"))
    return files + lexicon_files(data_dir / LEXICON_DIR)


def code_files() -> list[Path]:
    """Source files whose changes must invalidate a cached model."""
    here = Path(__file__).resolve().parent
    return sorted(here.glob("*.py")) + sorted((here / "entities").glob("*.py"))


def fingerprint(data_dir: Path, settings: NluSettings) -> str:
    h = hashlib.sha256()
    h.update(f"{CODE_VERSION}|sklearn={version('scikit-learn')}|c={settings.builtin_c}|max={settings.max_chars}|spell={settings.spelling_correction}".encode())
    for path in code_files():
        h.update(path.name.encode())
        h.update(path.read_bytes())
    for path in data_files(data_dir):
        h.update(str(path.relative_to(data_dir)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:20]


def model_path(cache_dir: Path, key: str) -> Path:
    return cache_dir / f"{MODEL_PREFIX}{key}{model_store.SUFFIX}"


def build_model(data_dir: Path, settings: NluSettings, key: str = "",
                examples: list[Example] | None = None) -> tuple[BuiltinModel, int]:
    """Fit a model from data_dir (or from `examples`, with data_dir's lexicons and FAQ)."""
    data = load_nlu(data_dir) if examples is None else NluData(examples=list(examples))
    if not data.examples:
        raise NluDataError(f"{data_dir}: no NLU training examples found")
    unknown = sorted({ex.intent for ex in data.examples} - set(INTENTS))
    if unknown:
        raise NluDataError(f"{data_dir}: intents not in the contract (nlu/backend.py INTENTS): {', '.join(unknown)}")
    normalizer = Normalizer(load_lexicons(data_dir / LEXICON_DIR))
    skeleton = BuiltinModel(normalizer, Featurizer(), IntentClassifier(c=settings.builtin_c),
                            FaqRetriever(load_faq(data_dir / FAQ_FILE)), fingerprint=key)
    texts = [skeleton.prepare(ex.text, settings.max_chars)[0] for ex in data.examples]
    if settings.spelling_correction:
        vocab = Counter(w for t in texts for w in t.split())
        vocab.update({w: 1 for e in skeleton.faq.entries for q in e.questions
                      for w in skeleton.prepare(q, settings.max_chars)[0].split()})
        normalizer.set_speller(SpellCorrector(vocab))
    labels = [ex.intent for ex in data.examples]
    prepare_q = lambda q: skeleton.prepare(q, 100_000)[0]  # noqa: E731
    faq_texts = [prepare_q(q) for e in skeleton.faq.entries for q in e.questions]
    skeleton.featurizer.fit(texts + faq_texts)
    skeleton.classifier.fit(skeleton.featurizer, texts, labels)
    skeleton.faq.fit(skeleton.featurizer, prepare_q)
    skeleton.meta = {"examples": len(texts), "intents": len(set(labels))}
    return skeleton, len(texts)


def _write_atomic(model: BuiltinModel, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as fh:
            model_store.write(model, fh)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _remove_stale(cache_dir: Path, keep: Path) -> None:
    """Older models, and pickles of earlier versions (never read: a pickle can run code)."""
    for old in [*cache_dir.glob(f"{MODEL_PREFIX}*{model_store.SUFFIX}"), *cache_dir.glob(f"{MODEL_PREFIX}*.pkl")]:
        if old != keep:
            try:
                old.unlink()
            except OSError:
                pass


def train(data_dir: Path, cache_dir: Path, settings: NluSettings) -> TrainResult:
    """Always retrain; write the artefact into cache_dir and drop older ones."""
    started = time.perf_counter()
    key = fingerprint(data_dir, settings)
    model, n = build_model(data_dir, settings, key)
    path = model_path(cache_dir, key)
    _write_atomic(model, path)
    _remove_stale(cache_dir, path)
    seconds = time.perf_counter() - started
    log.info("trained built-in NLU on %d examples in %.2fs → %s", n, seconds, path)
    return TrainResult(path, seconds, n, model.meta["intents"], len(model.faq.entries))


def _train_in_subprocess(data_dir: Path, cache_dir: Path, settings: NluSettings) -> TrainResult:
    """Train in a child interpreter so scikit-learn's memory is given back (the service stays lean)."""
    cmd = [sys.executable, "-m", "nlu.training", str(data_dir), str(cache_dir), settings.model_dump_json()]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(_ROOT), os.environ.get("PYTHONPATH")])),
           "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}  # one core, no oversubscription
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "training failed")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    return TrainResult(Path(out["path"]), out["seconds"], out["examples"], out["intents"], out["faq_entries"])


def _read(path: Path, data_dir: Path, key: str) -> BuiltinModel | None:
    if not path.exists():
        return None
    return model_store.read(path, key, data_dir / LEXICON_DIR, data_dir / FAQ_FILE)


def load_or_train(data_dir: Path, cache_dir: Path, settings: NluSettings) -> BuiltinModel:
    """Load the cached model if it matches the current data and code; otherwise train it. A cache file that
    cannot be used (corrupt, tampered with, an older format) is trained anew, never executed."""
    key = fingerprint(data_dir, settings)
    model = _read(model_path(cache_dir, key), data_dir, key)
    if model is not None:
        return model
    if settings.train_in_subprocess:
        try:
            result = _train_in_subprocess(data_dir, cache_dir, settings)
            model = _read(result.path, data_dir, key)
            if model is not None:
                return model
        except (OSError, RuntimeError, ValueError, subprocess.SubprocessError) as exc:
            log.warning("training in a subprocess failed (%s); training in-process", exc)
    started = time.perf_counter()
    model, n = build_model(data_dir, settings, key)
    log.info("trained built-in NLU on %d examples in %.2fs", n, time.perf_counter() - started)
    path = model_path(cache_dir, key)
    try:
        _write_atomic(model, path)
        _remove_stale(cache_dir, path)
    except OSError as exc:  # cache dir not writable: serve the model trained in memory
        log.warning("cannot write the NLU cache (%s); model kept in memory only", exc)
    return model


def _main(argv: list[str]) -> None:
    """`python -m nlu.training DATA_DIR CACHE_DIR [SETTINGS_JSON]`: train and print the result as JSON."""
    settings = NluSettings.model_validate_json(argv[2]) if len(argv) > 2 else NluSettings()
    r = train(Path(argv[0]), Path(argv[1]), settings)
    print(json.dumps({"path": str(r.path), "seconds": r.seconds, "examples": r.examples, "intents": r.intents,
                      "faq_entries": r.faq_entries}))


if __name__ == "__main__":
    _main(sys.argv[1:])
