"""Server CPU per web chat request (not a test): the whole app of `hajibot serve`, driven over loopback.

The server (create_app, every room's routes and middlewares, all enabled channels) runs in this process; the
virtual pilgrims run in a child process (`--client`), so this process's CPU time (all threads) is the
server's alone. With `--stub` the pipeline's `handle` returns prepared replies (two messages, as the text
script's answers) without touching the database or the NLU: what is measured is the HTTP layer around the
message path (aiohttp, middlewares, session cookie, JSON in and out, the handler). Without it, the real
message path runs as in bench/load.py's text scenario. `--profile FILE` / `--top N`: cProfile of the server
during the measured run.

Usage:
  .venv/bin/python bench/http_cpu.py --stub --users 20 --messages 20000
  .venv/bin/python bench/http_cpu.py --users 20 --messages 3000 --top 40
"""
from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from bench.load import REGISTRY_ROWS, SESSION_KEY, registry_csv, run_cli, write_config  # noqa: E402
from bench.pipeline_cpu import script, write_profile  # noqa: E402

REPLIES = [SimpleNamespace(id=1, direction="out", sender="bot", text="Waalaikumsalam. Ada yang bisa kami bantu? " * 3,
                           choices=["Cek porsi", "Biaya haji", "Jam kantor"], attachments=[]),
           SimpleNamespace(id=2, direction="out", sender="bot", text="Silakan ketik nomor porsi Anda.",
                           choices=[], attachments=[])]


async def client(url: str, users: int, messages: int, first_user: int) -> None:
    """The pilgrims: each sends its share of the text script and waits for every answer (keep-alive).
    Pilgrims `first_user` .. `first_user + users - 1`: the measured run's are new (as in bench/pipeline_cpu.py),
    so none of its messages is a redelivery of a warm-up message."""
    import aiohttp

    from bot.channels.webchat_session import COOKIE_NAME, sign_session

    per_user = max(1, messages // users)
    errors = 0

    async def pilgrim(http: aiohttp.ClientSession, uid: int) -> None:
        nonlocal errors
        headers = {"Cookie": f"{COOKIE_NAME}={sign_session(SESSION_KEY, f'http-{uid}')}"}
        rng, seq, session_no = random.Random(uid), 0, 0
        while seq < per_user:
            session_no += 1
            for text in script(uid, session_no, rng):
                seq += 1
                async with http.post(url, json={"text": text, "message_id": f"http-{uid}-{seq}"},
                                     headers=headers) as response:
                    payload = await response.json()
                    errors += response.status != 200 or not payload.get("messages")

    cpu = time.process_time()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0),
                                     cookie_jar=aiohttp.DummyCookieJar()) as http:
        await asyncio.gather(*(pilgrim(http, first_user + u) for u in range(users)))
    print(f"{errors} errors, client {1000 * (time.process_time() - cpu) / (per_user * users):.3f} ms CPU per request")


async def serve(args: argparse.Namespace, config: Path, env: dict[str, str]) -> None:
    from aiohttp import web

    from bot.app import create_app, freeze_startup_heap
    from bot.config import load_settings
    from bot.core.pipeline import HandleResult
    from bot.services import build_services

    settings = load_settings(config, env)
    services = await build_services(settings)
    if args.stub:
        async def handle(msg: Any, deliver: bool = False) -> HandleResult:
            return HandleResult(message_id=1, conversation_id=1, duplicate=False, replies=REPLIES)  # type: ignore[arg-type]

        services.pipeline.handle = handle  # type: ignore[method-assign]
    app = create_app(services)
    freeze_startup_heap()  # as `hajibot serve` does
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    url = f"http://127.0.0.1:{port}/webchat/messages"
    gc_time = GcTime()
    profile = cProfile.Profile(time.process_time) if args.profile or args.top else None  # CPU, not wall
    try:
        for phase, messages in (("warm-up", min(args.messages, 600)), ("measured", args.messages)):
            child = await asyncio.create_subprocess_exec(
                sys.executable, __file__, "--client", url, "--users", str(args.users), "--messages", str(messages),
                "--first-user", str(0 if phase == "warm-up" else args.users), stdout=subprocess.PIPE)
            cpu, wall = time.process_time(), time.perf_counter()
            gc_time.reset()
            if profile is not None and phase == "measured":
                profile.enable()
            out, _ = await child.communicate()
            if profile is not None and phase == "measured":
                profile.disable()
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        done = (args.messages // args.users) * args.users
        print(f"{'stub' if args.stub else 'full'}: {done} requests, {args.users} users: "
              f"{1000 * cpu / done:.3f} ms server CPU per request ({done / wall:.0f} req/s wall, "
              f"{out.decode().strip()}); load {' '.join(f'{x:.2f}' for x in os.getloadavg())}; GC: {gc_time}")
        write_profile(profile, args.profile, args.top)
    finally:
        await runner.cleanup()


class GcTime:
    """Time spent in the garbage collector per generation (gc.callbacks), and how often each ran."""

    def __init__(self) -> None:
        self.seconds = [0.0, 0.0, 0.0]
        self.runs = [0, 0, 0]
        self._started = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.process_time()
        else:
            self.seconds[info["generation"]] += time.process_time() - self._started
            self.runs[info["generation"]] += 1

    def reset(self) -> None:
        self.seconds, self.runs = [0.0, 0.0, 0.0], [0, 0, 0]

    def __str__(self) -> str:
        return ", ".join(f"gen{g} {n}x {1000 * t:.0f} ms" for g, (n, t) in enumerate(zip(self.runs, self.seconds)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stub", action="store_true", help="pipeline.handle returns prepared replies")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--messages", type=int, default=10000)
    parser.add_argument("--profile", default=None, help="write a cProfile dump of the server here")
    parser.add_argument("--top", type=int, default=0, help="print the N functions with the most own time")
    parser.add_argument("--client", default=None, help=argparse.SUPPRESS)  # the child process: the URL to drive
    parser.add_argument("--first-user", type=int, default=0, help=argparse.SUPPRESS)  # the child's first pilgrim
    args = parser.parse_args()
    if args.client:
        asyncio.run(client(args.client, args.users, args.messages, args.first_user))
        return
    base = Path(tempfile.mkdtemp(prefix="hajibot-http-"))
    env = {**os.environ, "HAJIBOT_SESSION_KEY": SESSION_KEY, "HAJIBOT_DATABASE_URL": ""}
    env.pop("HAJIBOT_CONFIG", None)
    try:
        config = write_config(base)
        env["HAJIBOT_DATABASE_URL"] = f"sqlite+aiosqlite:///{base / 'http.db'}"
        run_cli(config, env, "init", "--demo")
        if not args.stub:
            (base / "registry.csv").write_text(registry_csv(REGISTRY_ROWS), encoding="utf-8")
            run_cli(config, env, "import-porsi", str(base / "registry.csv"))
        asyncio.run(serve(args, config, env))
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
