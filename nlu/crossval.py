"""k-fold cross-validation of the built-in model on nlu/data: an estimate for phrasings nobody wrote down.

Each fold trains on the other folds (same lexicons and FAQ) and parses the held-back examples; the
predictions of all folds are scored together with nlu.evaluation.evaluate.
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from nlu.evaluation import evaluate
from nlu.model import ParseTuning
from nlu.rasa_yaml import load_nlu
from nlu.settings import NluSettings
from nlu.training import build_model


def cross_validate(data_dir: Path, settings: NluSettings, folds: int = 5, seed: int = 1) -> dict[str, Any]:
    examples = list(load_nlu(data_dir).examples)
    random.Random(seed).shuffle(examples)
    tuning = ParseTuning(settings.builtin_temperature, settings.off_domain_factor, settings.faq_boost,
                         off_topic_factor=settings.off_topic_factor)
    results: dict[int, dict[str, Any]] = {}
    for fold in range(folds):
        train = [e for i, e in enumerate(examples) if i % folds != fold]
        model, _ = build_model(data_dir, settings, examples=train)
        for i in range(fold, len(examples), folds):
            results[i] = model.parse(examples[i].text, settings.max_chars, settings.fallback_threshold, tuning)
    replay = iter(results[i] for i in range(len(examples)))
    report = evaluate(lambda _t: next(replay), [(e.text, e.intent, e.entities) for e in examples], warmup=0)
    report.pop("latency_ms", None)
    report.pop("latency_cpu_ms", None)
    report["folds"] = folds
    oos = [r for r, e in zip((results[i] for i in range(len(examples))), examples) if e.intent == "out_of_scope"]
    report["out_of_scope_caught"] = round(
        sum(r["intent"]["name"] in ("out_of_scope", "nlu_fallback") for r in oos) / len(oos), 4) if oos else None
    return report
