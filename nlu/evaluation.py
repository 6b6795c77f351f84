"""Backend-agnostic NLU evaluation on Rasa-format test data: intents, entities, latency."""
from __future__ import annotations

import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Callable, Iterable

from nlu.rasa_yaml import load_nlu

ExampleTuple = tuple[str, str, list[dict[str, Any]]]


def load_rasa_examples(path: str | Path) -> list[ExampleTuple]:
    """(text, intent, entities) for every intent example in a Rasa NLU YAML file or directory."""
    return [(e.text, e.intent, e.entities) for e in load_nlu(Path(path)).examples]


def _prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f, 4)}


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    k = min(len(s) - 1, max(0, int(round(q / 100 * (len(s) - 1)))))
    return s[k]


def _match(pred: dict[str, Any], gold: dict[str, Any]) -> bool:
    """Same entity type and value, overlapping spans."""
    return (pred.get("entity") == gold["entity"] and str(pred.get("value")) == str(gold["value"])
            and pred.get("start", 0) < gold["end"] and gold["start"] < pred.get("end", 0))


def _entity_counts(pred: list[dict[str, Any]], gold: list[dict[str, Any]], counts: dict[str, Counter]) -> None:
    used: set[int] = set()
    for p in pred:
        hit = next((i for i, g in enumerate(gold) if i not in used and _match(p, g)), None)
        if hit is None:
            counts[p.get("entity", "?")]["fp"] += 1
        else:
            used.add(hit)
            counts[p["entity"]]["tp"] += 1
    for i, g in enumerate(gold):
        if i not in used:
            counts[g["entity"]]["fn"] += 1


def evaluate(parse_fn: Callable[[str], dict[str, Any]], examples: Iterable[ExampleTuple],
             warmup: int = 5) -> dict[str, Any]:
    """Run parse_fn over the examples and build a JSON-able report."""
    examples = list(examples)
    for text, _, _ in examples[:warmup]:
        parse_fn(text)
    gold_intents, pred_intents, latencies, cpu, errors = [], [], [], [], []
    entity_counts: dict[str, Counter] = defaultdict(Counter)
    for text, intent, gold_entities in examples:
        t0, c0 = time.perf_counter(), time.thread_time()
        result = parse_fn(text)
        latencies.append((time.perf_counter() - t0) * 1000.0)
        cpu.append((time.thread_time() - c0) * 1000.0)  # immune to other processes on a busy machine
        pred = (result.get("intent") or {}).get("name") or "nlu_fallback"
        gold_intents.append(intent)
        pred_intents.append(pred)
        if pred != intent:
            errors.append({"text": text, "gold": intent, "predicted": pred,
                           "confidence": (result.get("intent") or {}).get("confidence")})
        _entity_counts(result.get("entities") or [], gold_entities, entity_counts)

    labels = sorted(set(gold_intents) | set(pred_intents))
    per_intent = {}
    for label in labels:
        tp = sum(g == p == label for g, p in zip(gold_intents, pred_intents))
        fp = sum(p == label and g != label for g, p in zip(gold_intents, pred_intents))
        fn = sum(g == label and p != label for g, p in zip(gold_intents, pred_intents))
        per_intent[label] = {**_prf(tp, fp, fn), "support": sum(g == label for g in gold_intents)}
    gold_labels = sorted(set(gold_intents))
    macro_f1 = sum(per_intent[l]["f1"] for l in gold_labels) / len(gold_labels) if gold_labels else 0.0
    confusion = Counter((g, p) for g, p in zip(gold_intents, pred_intents) if g != p)
    matrix = [[sum(1 for g, p in zip(gold_intents, pred_intents) if g == gl and p == pl) for pl in labels]
              for gl in labels]
    entities = {}
    for name, c in sorted(entity_counts.items()):
        entities[name] = {**_prf(c["tp"], c["fp"], c["fn"]), "support": c["tp"] + c["fn"]}
    total = Counter()
    for c in entity_counts.values():
        total.update(c)
    n = len(examples)
    return {
        "examples": n,
        "accuracy": round(sum(g == p for g, p in zip(gold_intents, pred_intents)) / n, 4) if n else 0.0,
        "macro_f1": round(macro_f1, 4),
        "per_intent": per_intent,
        "confused_pairs": [{"gold": g, "predicted": p, "count": c} for (g, p), c in confusion.most_common(15)],
        "entities": entities,
        "entities_micro": {**_prf(total["tp"], total["fp"], total["fn"]), "support": total["tp"] + total["fn"]},
        "latency_ms": {"p50": round(_percentile(latencies, 50), 3), "p99": round(_percentile(latencies, 99), 3),
                       "mean": round(sum(latencies) / n, 3) if n else 0.0,
                       "max": round(max(latencies), 3) if n else 0.0},
        "latency_cpu_ms": {"p50": round(_percentile(cpu, 50), 3), "p99": round(_percentile(cpu, 99), 3)},
        "confusion_matrix": {"labels": labels, "matrix": matrix},
        "scope": scope_scores(gold_intents, pred_intents),
        "errors": errors[:100],
    }


REJECTED = frozenset({"out_of_scope", "nlu_fallback"})


def scope_scores(gold: list[str], pred: list[str]) -> dict[str, Any]:
    """In-domain accuracy (exact intent on messages that are not out_of_scope) and out-of-scope false accepts
    (an out_of_scope message read as any Hajj/service intent instead of out_of_scope or nlu_fallback)."""
    inside = [(g, p) for g, p in zip(gold, pred) if g != "out_of_scope"]
    outside = [p for g, p in zip(gold, pred) if g == "out_of_scope"]
    accepted = sum(p not in REJECTED for p in outside)
    return {
        "in_domain": len(inside),
        "in_domain_accuracy": round(sum(g == p for g, p in inside) / len(inside), 4) if inside else None,
        "in_domain_rejected": round(sum(p in REJECTED for _, p in inside) / len(inside), 4) if inside else None,
        "out_of_scope": len(outside),
        "oos_false_accepts": accepted,
        "oos_false_accept_rate": round(accepted / len(outside), 4) if outside else None,
    }


def save_confusion_png(report: dict[str, Any], path: Path) -> Path:
    """Confusion matrix heat map (matplotlib, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = report["confusion_matrix"]["labels"]
    matrix = report["confusion_matrix"]["matrix"]
    size = max(6.0, 0.45 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels=labels, rotation=90, fontsize=8)
    ax.set_yticks(range(len(labels)), labels=labels, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    for i, row in enumerate(matrix):
        for j, v in enumerate(row):
            if v:
                ax.text(j, i, str(v), ha="center", va="center", fontsize=7,
                        color="white" if v > max(map(max, matrix)) / 2 else "black")
    ax.set_title(f"accuracy {report['accuracy']:.3f}, macro-F1 {report['macro_f1']:.3f}")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
