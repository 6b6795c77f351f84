"""Benchmark: import a 100,000-row porsi registry CSV into a fresh SQLite (and optionally PostgreSQL).

Usage: .venv/bin/python bench/registry_import.py [--rows N] [--pg URL]
Writes bench/results/registry_import.json and prints a table.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import platform
import random
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import psutil

from storage.db import Database
from storage.migrate import upgrade
from storage.registry_import import import_registry

HEADER = "nomor_porsi,nama,nik,tanggal_lahir,jenis_kelamin,kab_kota,provinsi,status,estimasi_tahun,bank,tanggal_daftar\n"


def make_csv(rows: int, seed: int = 7) -> bytes:
    rng = random.Random(seed)
    lines = [HEADER]
    for i in range(rows):
        born = date(1940, 1, 1) + timedelta(days=rng.randrange(0, 25000))
        lines.append(
            f"{300000000 + i:010d},JEMAAH {i},{1375010000000000 + i:016d},{born.isoformat()},"
            f"{'LP'[i % 2]},Kota Bukittinggi,Sumatera Barat,menunggu,{2026 + i % 20},Bank Syariah Indonesia,"
            f"{(date(2010, 1, 1) + timedelta(days=i % 5000)).isoformat()}\n")
    return "".join(lines).encode()


async def run(url: str, data: bytes) -> dict[str, float]:
    await asyncio.to_thread(upgrade, url)
    db = Database(url)
    try:
        timings = {}
        for label in ("insert", "reimport_upsert"):
            start = time.perf_counter()
            async with db.session() as session:
                report = await import_registry(session, data)
            timings[label] = time.perf_counter() - start
            assert report.imported == data.count(b"\n") - 1 and not report.errors
        return timings
    finally:
        await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--pg", default="")
    args = parser.parse_args()
    data = make_csv(args.rows)
    results: dict[str, object] = {"rows": args.rows, "machine": f"{platform.machine()} {psutil.cpu_count()} cores",
                                  "python": platform.python_version()}
    with tempfile.TemporaryDirectory() as tmp:
        results["sqlite"] = asyncio.run(run(f"sqlite+aiosqlite:///{tmp}/bench.db", data))
    if args.pg:
        results["postgresql"] = asyncio.run(run(args.pg, data))
    results["peak_rss_mb"] = round(psutil.Process().memory_info().rss / 2**20, 1)
    print(f"{'backend':<12}{'insert s':>10}{'re-import s':>13}{'rows/s':>10}")
    for backend in ("sqlite", "postgresql"):
        if backend in results:
            t = results[backend]  # type: ignore[assignment]
            print(f"{backend:<12}{t['insert']:>10.2f}{t['reimport_upsert']:>13.2f}{args.rows / t['insert']:>10.0f}")
    out = Path(__file__).parent / "results" / "registry_import.json"
    out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
