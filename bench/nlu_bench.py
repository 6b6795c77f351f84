"""NLU benchmark: the built-in classifier vs Rasa 3.6 on the held-out split (nlu/heldout/test.yml).

Measures intent accuracy and macro-F1, entity F1, latency per message (p50/p99), training time,
server start time and resident memory (psutil RSS). The built-in backend is measured in-process and
behind a tiny HTTP server that speaks Rasa's /model/parse (so both go through the same RasaNLU client).

    .venv/bin/python bench/nlu_bench.py                 # everything, retrains both from scratch
    .venv/bin/python bench/nlu_bench.py --reuse-rasa-model --no-builtin-http

Writes bench/results/nlu.json and bench/results/nlu.md. A script, not a test: it takes minutes.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from nlu.backend import FALLBACK_INTENT  # noqa: E402
from nlu.rasa.client import RasaNLU  # noqa: E402
from nlu.settings import NluSettings  # noqa: E402

Parse = Callable[[str], Awaitable[dict[str, Any]]]


@dataclass
class Example:
    text: str
    intent: str
    entities: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Result:
    backend: str
    accuracy: float = 0.0
    macro_f1: float = 0.0
    entity_f1: float | None = None
    fallback_rate: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    mean_ms: float = 0.0
    train_seconds: float | None = None
    train_cpu_seconds: float | None = None
    start_seconds: float | None = None
    rss_mb: float | None = None
    notes: str = ""
    per_intent_f1: dict[str, float] = field(default_factory=dict)
    confused: list[dict[str, Any]] = field(default_factory=list)


# ---------------------------------------------------------------- data and metrics

def load_heldout(path: Path) -> list[Example]:
    """Held-out examples with gold intent and entity spans (same loader as `hajibot nlu evaluate`)."""
    from nlu.evaluation import load_rasa_examples

    return [Example(text, intent, entities) for text, intent, entities in load_rasa_examples(path)]


async def run_examples(parse: Parse, examples: Sequence[Example], repeat: int,
                       warmup: int = 10) -> tuple[list[dict[str, Any]], list[float]]:
    """Parse every example `repeat` times sequentially; return first-pass results and all latencies (ms)."""
    for ex in examples[:warmup]:
        await parse(ex.text)
    results: list[dict[str, Any]] = []
    latencies: list[float] = []
    for round_ in range(repeat):
        for ex in examples:
            t = time.perf_counter()
            res = await parse(ex.text)
            latencies.append((time.perf_counter() - t) * 1000)
            if round_ == 0:
                results.append(res)
    return results, latencies


def score(name: str, examples: Sequence[Example], results: Sequence[dict[str, Any]],
          latencies: Sequence[float]) -> Result:
    """Quality via nlu.evaluation.evaluate (replaying the recorded results); latency from our timings."""
    from nlu.evaluation import evaluate

    replay = iter(results)
    report = evaluate(lambda _text: next(replay), [(e.text, e.intent, e.entities) for e in examples], warmup=0)
    pred = [r["intent"]["name"] for r in results]
    ordered = sorted(latencies)
    gold = {e.intent for e in examples}
    return Result(
        backend=name,
        accuracy=report["accuracy"],
        macro_f1=report["macro_f1"],
        entity_f1=report["entities_micro"]["f1"] if report["entities_micro"]["support"] else None,
        fallback_rate=sum(p == FALLBACK_INTENT for p in pred) / len(pred),
        p50_ms=ordered[len(ordered) // 2],
        p99_ms=ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
        mean_ms=statistics.fmean(ordered),
        per_intent_f1={k: v["f1"] for k, v in report["per_intent"].items() if k in gold},
        confused=report["confused_pairs"][:5],
    )


def rss_mb(pid: int) -> float:
    """RSS of a process and its children, in MiB."""
    proc = psutil.Process(pid)
    total = proc.memory_info().rss
    for child in proc.children(recursive=True):
        try:
            total += child.memory_info().rss
        except psutil.Error:
            pass
    return total / 2**20


# ---------------------------------------------------------------- built-in

def _cpu() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def train_builtin(data_dir: Path, cache_dir: Path, settings: NluSettings) -> tuple[float, float]:
    """(wall seconds, CPU seconds incl. a training child process) of a full built-in retrain."""
    from nlu.training import train

    cpu = _cpu()
    seconds = float(train(data_dir, cache_dir, settings).seconds)
    return seconds, _cpu() - cpu


async def bench_builtin(examples: list[Example], data_dir: Path, cache_dir: Path, settings: NluSettings,
                        repeat: int) -> Result:
    from nlu.builtin import BuiltinNLU

    seconds, cpu_seconds = train_builtin(data_dir, cache_dir, settings)
    before = psutil.Process().memory_info().rss / 2**20
    nlu = BuiltinNLU.load(data_dir, cache_dir, settings)
    loaded = psutil.Process().memory_info().rss / 2**20
    results, lat = await run_examples(nlu.parse, examples, repeat)
    await nlu.close()
    res = score("builtin (in-process)", examples, results, lat)
    res.train_seconds = seconds
    res.train_cpu_seconds = cpu_seconds
    res.rss_mb = loaded
    res.notes = f"RSS of the whole bench process; model load added {loaded - before:.0f} MiB"
    return res


def serve_builtin(port: int, data_dir: Path, cache_dir: Path) -> None:
    """Child mode: serve BuiltinNLU over Rasa's HTTP API (POST /model/parse, GET /status)."""
    from aiohttp import web

    from nlu.builtin import BuiltinNLU

    nlu = BuiltinNLU.load(data_dir, cache_dir, NluSettings())

    async def parse(request: web.Request) -> web.Response:
        body = await request.json()
        return web.json_response(await nlu.parse(str(body.get("text", ""))))

    async def status(request: web.Request) -> web.Response:
        return web.json_response({"model_file": "builtin", "num_active_training_jobs": 0})

    app = web.Application()
    app.router.add_post("/model/parse", parse)
    app.router.add_get("/status", status)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


async def bench_over_http(name: str, url: str, pid: int, examples: list[Example], repeat: int,
                          entities: str = "hybrid") -> Result:
    client = RasaNLU(url, timeout=30, health_interval=None, entities=entities)  # type: ignore[arg-type]
    try:
        if not await client.check_health():
            raise RuntimeError(f"{name}: server at {url} not healthy ({client.last_error})")
        results, lat = await run_examples(client.parse, examples, repeat)
    finally:
        await client.close()
    if client.last_error:
        raise RuntimeError(f"{name}: errors during the run ({client.last_error})")
    res = score(name, examples, results, lat)
    res.rss_mb = rss_mb(pid)
    return res


async def bench_builtin_http(examples: list[Example], data_dir: Path, cache_dir: Path,
                             repeat: int) -> Result:
    from nlu.rasa.server import free_port, status

    port = free_port()
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, __file__, "--serve-builtin", str(port), "--data-dir", str(data_dir),
                             "--cache-dir", str(cache_dir)], stdin=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        while status(url) is None:
            if proc.poll() is not None or time.monotonic() - started > 120:
                raise RuntimeError("built-in HTTP server did not start")
            await asyncio.sleep(0.1)
        start_s = time.monotonic() - started
        res = await bench_over_http("builtin (HTTP)", url, proc.pid, examples, repeat)
        res.start_seconds = start_s
        res.notes = "aiohttp server process, same /model/parse API and client as Rasa"
        return res
    finally:
        proc.terminate()
        proc.wait(timeout=20)


# ---------------------------------------------------------------- Rasa

async def bench_rasa(examples: list[Example], data_dir: Path, settings: NluSettings, repeat: int,
                     reuse_model: bool, model_dir: Path, work_dir: Path) -> list[Result]:
    from nlu.rasa.env import venv_dir
    from nlu.rasa.project import train
    from nlu.rasa.server import start_server
    from nlu.rasa.setup import ensure_rasa

    venv = ensure_rasa(settings.rasa_python, venv_dir(settings.rasa_venv), settings.rasa_version).venv
    report = train(venv, data_dir, model_dir, work_dir, force=not reuse_model)
    started = time.monotonic()
    with start_server(venv, report.model, log_path=work_dir / "bench-server.log",
                      timeout=settings.rasa_start_timeout_seconds) as server:
        start_s = time.monotonic() - started
        res = await bench_over_http("rasa 3.6.21 (HTTP)", server.url, server.pid, examples, repeat)
        raw = await bench_over_http("rasa 3.6.21 (HTTP, Rasa's own entities)", server.url, server.pid,
                                    examples, 1, entities="rasa")
    trained = "" if report.trained_now else "; model reused, train time not measured"
    for r in (res, raw):
        r.train_seconds = report.seconds if report.trained_now else None
        r.train_cpu_seconds = report.cpu_seconds if report.trained_now else None
        r.start_seconds = start_s
    res.notes = ("DIET, config nlu/rasa/config.yml; RasaNLU default entities=hybrid (porsi/NIK/phone/ticket/date "
                 "from the rule extractors, relationship from Rasa)" + trained)
    raw.notes = "same server, entities exactly as Rasa returns them (raw spans, no normalisation); 1 latency pass"
    return [res, raw]


# ---------------------------------------------------------------- output

def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def table(results: Sequence[Result]) -> str:
    head = ("| backend | accuracy | macro-F1 | entity F1 | fallback | p50 ms | p99 ms | train s (CPU s) | start s | RSS MiB |\n"
            "|---|---|---|---|---|---|---|---|---|---|\n")
    rows = [f"| {r.backend} | {r.accuracy:.3f} | {r.macro_f1:.3f} | {_fmt(r.entity_f1, '.3f')} | "
            f"{r.fallback_rate:.1%} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | {_fmt(r.train_seconds, '.1f')}"
            f"{'' if r.train_cpu_seconds is None else f' ({r.train_cpu_seconds:.0f})'} | "
            f"{_fmt(r.start_seconds, '.1f')} | {_fmt(r.rss_mb, '.0f')} |" for r in results]
    return head + "\n".join(rows) + "\n"


def per_intent_table(results: Sequence[Result]) -> str:
    intents = sorted({k for r in results for k in r.per_intent_f1})
    head = "| intent | " + " | ".join(r.backend for r in results) + " |\n|---|" + "---|" * len(results) + "\n"
    rows = [f"| {i} | " + " | ".join(_fmt(r.per_intent_f1.get(i), ".2f") for r in results) + " |" for i in intents]
    return head + "\n".join(rows) + "\n"


def environment() -> dict[str, Any]:
    return {"date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()), "python": platform.python_version(),
            "cpus": os.cpu_count(), "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
            "machine": platform.machine(), "load_avg_1m_at_start": round(os.getloadavg()[0], 2)}


def write_outputs(out_dir: Path, results: Sequence[Result], meta: dict[str, Any]) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "nlu.json").write_text(json.dumps({"meta": meta, "results": [r.__dict__ for r in results]},
                                                 indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    md = [
        "# NLU benchmark: built-in vs Rasa", "",
        f"Held-out split `{meta['heldout']}`: {meta['examples']} messages, {meta['intents']} intents; "
        f"latency over {meta['repeat']} sequential pass(es), one message at a time. "
        f"Machine: {meta['env']['cpus']} CPUs, {meta['env']['memory_gib']} GiB, load average "
        f"{meta['env']['load_avg_1m_at_start']} at start (other work was running); {meta['env']['date_utc']} UTC.",
        "", table(results),
        "Accuracy, macro-F1 (over held-out intents; `nlu_fallback` counts as wrong) and entity F1 (micro, same "
        "type and value, overlapping span; entities predicted but not annotated count as false positives) "
        "come from `nlu.evaluation.evaluate`, as in `hajibot nlu evaluate`. "
        "RSS is psutil resident memory of the serving process (and its children). "
        "Train s is the wall time of a full retrain from scratch, CPU s its user+system time (less sensitive "
        "to other load on the machine).", "",
        "Reproduce: `.venv/bin/python bench/nlu_bench.py`", "",
        "## Notes", "", *[f"- **{r.backend}**: {r.notes}" for r in results if r.notes], "",
        "## F1 per intent", "", per_intent_table(results),
        "## Most confused (gold → predicted)", "",
        *[f"- **{r.backend}**: " + (", ".join(f"{c['gold']} → {c['predicted']} ×{c['count']}" for c in r.confused)
                                   or "none") for r in results], "",
    ]
    (out_dir / "nlu.md").write_text("\n".join(md), encoding="utf-8")


def _data_fingerprint(data_dir: Path) -> str:
    from nlu.rasa.project import CONFIG_PATH, fingerprint, training_inputs

    return fingerprint(CONFIG_PATH, data_dir, training_inputs(data_dir))


# ---------------------------------------------------------------- main

def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--heldout", type=Path, default=REPO / "nlu/heldout/test.yml")
    ap.add_argument("--data-dir", type=Path, default=REPO / "nlu/data")
    ap.add_argument("--cache-dir", type=Path, default=None, help="built-in model cache (default: a temp dir)")
    ap.add_argument("--out", type=Path, default=REPO / "bench/results")
    ap.add_argument("--repeat", type=int, default=3, help="latency passes over the held-out set")
    ap.add_argument("--no-rasa", action="store_true")
    ap.add_argument("--no-builtin-http", action="store_true")
    ap.add_argument("--reuse-rasa-model", action="store_true", help="skip the Rasa retrain if a model exists")
    ap.add_argument("--rasa-model-dir", type=Path, default=Path("~/.cache/hajibot/rasa-bench/models").expanduser())
    ap.add_argument("--serve-builtin", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.serve_builtin:
        serve_builtin(args.serve_builtin, args.data_dir, args.cache_dir)
        return 0

    settings = NluSettings()
    env = environment()
    examples = load_heldout(args.heldout)
    print(f"held-out: {len(examples)} examples, {len({e.intent for e in examples})} intents")
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="nlu-bench-") as tmp:
        cache_dir = args.cache_dir or Path(tmp) / "builtin"
        print("built-in: training and parsing in-process ...", flush=True)
        results.append(asyncio.run(bench_builtin(examples, args.data_dir, cache_dir, settings, args.repeat)))
        if not args.no_builtin_http:
            print("built-in: over HTTP ...", flush=True)
            results.append(asyncio.run(bench_builtin_http(examples, args.data_dir, cache_dir, args.repeat)))
        if not args.no_rasa:
            print("rasa: setup, train, serve, parse (minutes) ...", flush=True)
            work_dir = args.rasa_model_dir.parent / "project"
            results.extend(asyncio.run(bench_rasa(examples, args.data_dir, settings, args.repeat,
                                                  args.reuse_rasa_model, args.rasa_model_dir, work_dir)))
    meta = {"data_fingerprint": _data_fingerprint(args.data_dir), "heldout": str(args.heldout.relative_to(REPO)) if args.heldout.is_relative_to(REPO) else str(args.heldout),
            "examples": len(examples), "intents": len({e.intent for e in examples}), "repeat": args.repeat,
            "env": env}
    print(table(results))
    write_outputs(args.out, results, meta)
    print(f"wrote {args.out / 'nlu.json'} and {args.out / 'nlu.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
