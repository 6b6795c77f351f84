"""Training, the model cache (keyed by data + code) and the Rasa YAML / FAQ readers."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from nlu.builtin import BuiltinNLU
from nlu.faq import FaqError, load_faq
from nlu.rasa_yaml import load_nlu, parse_annotated
from nlu.training import fingerprint, model_path
from tests.nlu.conftest import DATA_DIR, LOAD_SECONDS, tiny_data


def test_cache_is_reused(builtin_nlu: BuiltinNLU, nlu_cache_dir: Path, nlu_settings) -> None:
    path = model_path(nlu_cache_dir, fingerprint(DATA_DIR, nlu_settings))
    assert path.exists()
    mtime = path.stat().st_mtime_ns
    started = time.perf_counter()
    BuiltinNLU.load(DATA_DIR, nlu_cache_dir, nlu_settings)
    assert time.perf_counter() - started < 2.0
    assert path.stat().st_mtime_ns == mtime


def test_retrains_when_data_changes(tmp_path: Path, nlu_settings) -> None:
    data = tiny_data(tmp_path)
    cache = tmp_path / "cache"
    first = fingerprint(data, nlu_settings)
    nlu = BuiltinNLU.load(data, cache, nlu_settings)
    assert model_path(cache, first).exists()
    extra = data / "nlu_extra.yml"
    extra.write_text('version: "3.1"\nnlu:\n- intent: greet\n  examples: |\n    - horas bah\n', encoding="utf-8")
    second = fingerprint(data, nlu_settings)
    assert second != first
    nlu = BuiltinNLU.load(data, cache, nlu_settings)
    assert model_path(cache, second).exists()
    assert not model_path(cache, first).exists()  # stale artefact removed
    assert nlu.parse_sync("halo")["intent"]["name"] == "greet"


def test_full_training_is_fast_enough(builtin_nlu: BuiltinNLU) -> None:
    assert LOAD_SECONDS and LOAD_SECONDS[0] < 30  # the session fixture trained from scratch
    assert len(builtin_nlu.model.classifier.labels) == 20
    assert len(builtin_nlu.model.faq.entries) >= 30


def test_parse_annotated() -> None:
    text, ents = parse_annotated('porsi [0300 1234 56]{"entity": "porsi_number", "value": "0300123456"} '
                                 'ke [anak](relationship:anak_kandung) dan [istri](relationship)')
    assert text == "porsi 0300 1234 56 ke anak dan istri"
    assert [(e["entity"], e["value"], text[e["start"]:e["end"]]) for e in ents] == [
        ("porsi_number", "0300123456", "0300 1234 56"),
        ("relationship", "anak_kandung", "anak"),
        ("relationship", "istri", "istri")]


def test_training_data_is_broad() -> None:
    from collections import Counter

    from nlu.backend import INTENTS

    data = load_nlu(DATA_DIR)
    counts = Counter(e.intent for e in data.examples)
    assert set(counts) == set(INTENTS)
    assert min(counts.values()) >= 40
    for ex in data.examples:
        for ent in ex.entities:
            assert ex.text[ent["start"]:ent["end"]]


def test_faq_file_is_valid() -> None:
    entries = load_faq(DATA_DIR / "faq.yml")
    assert len(entries) >= 30
    assert all(len(e.questions) >= 3 for e in entries)


@pytest.mark.parametrize("body,message", [
    ("faq:\n- key: Bad Key\n  questions: [a]\n  answer: b\n", "'key'"),
    ("faq:\n- key: a\n  questions: []\n  answer: b\n", "'questions'"),
    ("faq:\n- key: a\n  questions: [x]\n", "'answer'"),
    ("faq:\n- key: a\n  questions: [x]\n  answer: y\n- key: a\n  questions: [x]\n  answer: y\n", "duplicate"),
    ("faq: [\n", "invalid YAML"),
])
def test_faq_errors_name_the_problem(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "faq.yml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(FaqError, match=message):
        load_faq(path)


@pytest.mark.parametrize("body,message", [
    ("nlu: [\n", "line"),
    ("version: '3.1'\nnlu: 5\n", "'nlu:' list"),
    ('version: "3.1"\nnlu:\n- intent: greet\n  examples: |\n    - halo\n- intent: ngobrol\n  examples: |\n    - x\n',
     "ngobrol"),
])
def test_bad_training_data_is_reported(tmp_path: Path, nlu_settings, body: str, message: str) -> None:
    from nlu.rasa_yaml import NluDataError
    from nlu.training import build_model

    data = tiny_data(tmp_path)
    (data / "nlu_bad.yml").write_text(body, encoding="utf-8")
    with pytest.raises(NluDataError, match=message):
        build_model(data, nlu_settings)
