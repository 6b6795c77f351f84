"""Benchmark: read the NIK (and name) from generated KTP-like photos with the service's OCR (bot/docread).

Usage: .venv/bin/python bench/ocr.py [--seed N] [--sharp N] [--other N] [--raw] [--out NAME]
Variants: sharp, tilted (2-6 degrees), low_light (dark, noisy, soft), jpeg (960x720, quality 22-32).
The preprocessing was tuned on seed 1000 (`--seed 1000 --out ocr-tuning`); the published result
(bench/results/ocr.md/.json) is seed 8675309, never looked at before the final run (held-out). `--raw` also runs Tesseract
on the untouched photo, to show what the preprocessing adds.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.docread import reader  # noqa: E402
from bot.docread.extract import find_niks, name_field, same_name  # noqa: E402
from bot.stories.ktp import VARIANTS, sample  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def raw_read(data: bytes) -> tuple[list[str], str | None, float]:
    """Tesseract on the photo as sent (no preprocessing), same extraction."""
    started = time.perf_counter()
    done = subprocess.run([reader.TESSERACT, "stdin", "stdout", "-l", "ind", "--psm", "6"], input=data,
                          capture_output=True, check=True, env={"OMP_THREAD_LIMIT": "1", "PATH": "/usr/bin"})
    text = done.stdout.decode("utf-8", "replace")
    return find_niks(text), name_field(text), time.perf_counter() - started


def run(seed: int, counts: dict[str, int], raw: bool) -> dict[str, object]:
    per_variant: dict[str, object] = {}
    for variant in VARIANTS:
        nik_ok = name_ok = wrong_nik = raw_nik_ok = 0
        times: list[float] = []
        raw_times: list[float] = []
        for i in range(counts[variant]):
            card, data = sample(seed + i, variant)
            reading = reader.read_card(data)
            times.append(reading.seconds)
            nik_ok += card.nik in reading.niks[:1]
            wrong_nik += bool(reading.niks) and reading.niks[0] != card.nik
            name_ok += bool(reading.name) and same_name(reading.name or "", card.nama) and \
                reading.name == card.nama
            if raw:
                niks, _name, seconds = raw_read(data)
                raw_nik_ok += card.nik in niks[:1]
                raw_times.append(seconds)
        n = counts[variant]
        row: dict[str, object] = {
            "images": n, "nik_exact": nik_ok, "nik_exact_rate": round(nik_ok / n, 3),
            "nik_wrong": wrong_nik, "name_exact_rate": round(name_ok / n, 3),
            "seconds_mean": round(statistics.mean(times), 2), "seconds_p95": round(_p95(times), 2)}
        if raw:
            row["raw_nik_exact_rate"] = round(raw_nik_ok / n, 3)
            row["raw_seconds_mean"] = round(statistics.mean(raw_times), 2)
        per_variant[variant] = row
        print(variant, row, flush=True)
    return per_variant


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=8675309)
    parser.add_argument("--sharp", type=int, default=50)
    parser.add_argument("--other", type=int, default=30)
    parser.add_argument("--raw", action="store_true")
    parser.add_argument("--out", default="ocr")
    args = parser.parse_args()
    if not reader.available():
        sys.exit("tesseract with the 'ind' language data is not installed (scripts/install-test-deps.sh)")
    counts = {v: args.sharp if v == "sharp" else args.other for v in VARIANTS}
    version = subprocess.run([reader.TESSERACT, "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    started = time.perf_counter()
    result = {"seed": args.seed, "held_out": args.seed != 1000, "tesseract": version,
              "work_width": reader.WORK_WIDTH, "machine": f"{platform.machine()} {len(__import__('os').sched_getaffinity(0))} cores",
              "variants": run(args.seed, counts, args.raw), "wall_seconds": round(time.perf_counter() - started, 1)}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.out}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
