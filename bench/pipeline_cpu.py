"""CPU per message of the message path alone (not a test): the text script through `Pipeline.handle`.

No HTTP, no load generator in the process: N virtual pilgrims run issue 14's text script (bench/load.py
`--scenario text`) concurrently against the pipeline, in this process, on a fresh database. Reported: process
CPU time (all threads, so the SQLite thread counts) per message, which does not depend much on what else
runs on the machine. `--profile FILE` writes a cProfile dump (read it with `python -m pstats FILE`);
`--top N` prints the N costliest functions by own time.

Usage:
  .venv/bin/python bench/pipeline_cpu.py --users 20 --messages 3000
  .venv/bin/python bench/pipeline_cpu.py --db postgres --users 20 --messages 3000 --top 30
"""
from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from bench.load import (  # noqa: E402
    COST_QUESTIONS, GREETINGS, OFFICE_QUESTIONS, PG_DEFAULT, REGISTRY_ROWS, SESSION_KEY, THANKS, born,
    create_pg_database, drop_pg_database, porsi, registry_csv, run_cli, write_config,
)


STATEMENTS: list[dict[str, Any]] = []  # statements and commits of the measured run


def write_profile(profile: cProfile.Profile | None, path: str | None, top: int) -> None:
    """Save the cProfile dump to `path` and/or print the `top` functions by own time."""
    if profile is None:
        return
    if path:
        profile.dump_stats(path)
    if top:
        pstats.Stats(profile).sort_stats("tottime").print_stats(top)


def script(uid: int, session_no: int, rng: random.Random) -> list[str]:
    i = (uid * 7919 + session_no * 104729) % REGISTRY_ROWS
    return [rng.choice(GREETINGS), f"mau cek porsi {porsi(i)}", f"{born(i):%d-%m-%Y}", rng.choice(COST_QUESTIONS),
            rng.choice(OFFICE_QUESTIONS), rng.choice(THANKS)]


async def run(config: Path, env: dict[str, str], users: int, messages: int, profile: cProfile.Profile | None
              ) -> tuple[float, float, int]:
    from bot.config import load_settings
    from bot.core.inbound import InboundMessage
    from bot.services import build_services

    settings = load_settings(config, env)
    services = await build_services(settings, ("webchat",))
    pipeline = services.pipeline
    from sqlalchemy import event

    counts = {"statements": 0, "commits": 0}

    @event.listens_for(services.db.engine.sync_engine, "before_cursor_execute")
    def _count(*_: object) -> None:
        counts["statements"] += 1

    @event.listens_for(services.db.engine.sync_engine, "commit")
    def _commit(*_: object) -> None:
        counts["commits"] += 1

    STATEMENTS.append(counts)
    per_user = max(1, messages // users)
    errors = 0

    async def pilgrim(uid: int) -> None:
        nonlocal errors
        rng, seq, session_no = random.Random(uid), 0, 0
        while seq < per_user:
            session_no += 1
            for text in script(uid, session_no, rng):
                seq += 1
                result = await pipeline.handle(InboundMessage("webchat", f"bench-{uid}", text,
                                                              channel_message_id=f"bench-{uid}-{seq}"), deliver=True)
                errors += not result.replies

    try:
        await asyncio.gather(*(pilgrim(u) for u in range(users)))  # warm-up: caches, first conversations
        cpu, wall = time.process_time(), time.perf_counter()
        counts.update(statements=0, commits=0)
        if profile is not None:
            profile.enable()
        await asyncio.gather(*(pilgrim(u + users) for u in range(users)))
        if profile is not None:
            profile.disable()
        return time.process_time() - cpu, time.perf_counter() - wall, errors
    finally:
        await services.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--pg-url", default=os.environ.get("HAJIBOT_BENCH_PG_URL", PG_DEFAULT))
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--profile", default=None, help="write a cProfile dump here")
    parser.add_argument("--top", type=int, default=0, help="print the N functions with the most own time")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="hajibot-cpu-"))
    env = {**os.environ, "HAJIBOT_SESSION_KEY": SESSION_KEY}
    env.pop("HAJIBOT_CONFIG", None)
    pg_name = f"hajibot_cpu_{os.getpid()}"
    try:
        config = write_config(base)
        env["HAJIBOT_DATABASE_URL"] = (f"sqlite+aiosqlite:///{base / 'cpu.db'}" if args.db == "sqlite"
                                       else await create_pg_database(args.pg_url, pg_name))
        (base / "registry.csv").write_text(registry_csv(REGISTRY_ROWS), encoding="utf-8")
        run_cli(config, env, "init", "--demo")
        run_cli(config, env, "import-porsi", str(base / "registry.csv"))
        profile = cProfile.Profile() if args.profile or args.top else None
        cpu, wall, errors = await run(config, env, args.users, args.messages, profile)
        done = (args.messages // args.users) * args.users
        print(f"{args.db}: {done} messages, {args.users} users: {1000 * cpu / done:.3f} ms CPU per message "
              f"({done / wall:.0f} msg/s wall, {errors} without reply); per message "
              f"{STATEMENTS[0]['statements'] / done:.1f} statements, {STATEMENTS[0]['commits'] / done:.2f} commits")
        write_profile(profile, args.profile, args.top)
    finally:
        if args.db == "postgres":
            await drop_pg_database(args.pg_url, pg_name)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
