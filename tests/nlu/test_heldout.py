"""Held-out accuracy (nlu/heldout/test.yml is never used for training)."""
from __future__ import annotations

from nlu.evaluation import evaluate, load_rasa_examples
from tests.nlu.conftest import HELDOUT


def test_heldout_accuracy(parse) -> None:
    examples = load_rasa_examples(HELDOUT)
    assert len(examples) >= 300
    report = evaluate(parse, examples)
    assert report["accuracy"] >= 0.95, report["confused_pairs"]
    assert report["macro_f1"] >= 0.93
    assert report["entities_micro"]["f1"] >= 0.95, report["entities"]
    assert report["latency_ms"]["p50"] < 5.0  # generous for CI machines; the target is ≤ 1 ms


def test_heldout_is_disjoint_from_training() -> None:
    from tests.nlu.conftest import DATA_DIR

    train = {t.lower().strip() for t, _, _ in load_rasa_examples(DATA_DIR)}
    held = [t for t, _, _ in load_rasa_examples(HELDOUT) if t.lower().strip() in train]
    assert held == []
