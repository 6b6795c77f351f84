"""Abuse benchmark (not a test): how long does the event loop stall while a hostile request is handled?

Starts the real service (`hajibot init --demo`, `hajibot serve`) on 127.0.0.1 with a fresh SQLite database,
Telegram and WhatsApp enabled (their APIs point at a closed local port, so notices fail fast). For each
hostile request below it runs, concurrently:
  - a /healthz poller: one GET every 10 ms; its latency is the event-loop stall seen by everybody else;
  - another pilgrim's web-chat conversation ("assalamualaikum", one message after the other);
and records the p50/p99/max latency of both while the hostile request is in flight (at least 1 s window).

Hostile requests: 1 MB of text through the web chat, the Telegram webhook and the Twilio (WhatsApp)
webhook; a 4,096-character message (the longest a channel accepts) through the web chat; a decompression-bomb
PNG (20,000 x 20,000 single colour: ~50 KB of PNG, 400 M pixels); a PDF with JavaScript (OpenAction); a 10 MB
noise photo; 10 concurrent wrong staff logins. Writes bench/results/abuse.md and abuse.json.

The pollers run in a separate process (the attacker's client work here cannot delay them); each request is
sent `--rounds` times and the samples of its windows are pooled. The first use of each path is warmed up
before measuring (SQL statement caches, lazy imports), so the figures are the hostile request's own cost.

Usage:  .venv/bin/python bench/abuse.py [--window 1.0] [--rounds 3]
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import multiprocessing
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO))

from load import HAJIBOT, RESULTS, SESSION_KEY, free_port, machine, start_servers, write_config  # noqa: E402

from bot.channels.webchat_session import COOKIE_NAME, sign_session  # noqa: E402
from tests.security.hostile import bomb_png, javascript_pdf  # noqa: E402  (shared with the tests)

TELEGRAM_TOKEN = "123456789:AAH-bench_token"
TELEGRAM_SECRET = "bench-webhook-secret-0123456789"
TWILIO_SID = "AC" + "0" * 32
TWILIO_TOKEN = "bench-twilio-auth-token"
PUBLIC_URL = "https://haji.example.go.id"
POLL_EVERY = 0.010


# hostile payloads --------------------------------------------------------------------------------
def noise_photo(megabytes: int = 10) -> bytes:
    """A JPEG of random noise about `megabytes` large (the upload limit is 10 MB)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(1)
    side = 4000
    img = Image.fromarray(rng.integers(0, 255, (side, side, 3), dtype=np.uint8))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=92)
    return out.getvalue()[: megabytes * 1024 * 1024 - 1]  # truncated JPEG when too long: still decodable


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# measurement -------------------------------------------------------------------------------------
# The pollers run in their own process, so the attacker's client work here (encoding and sending megabytes)
# cannot delay them: what they see is the server's responsiveness only.
@dataclass
class Window:
    health: list[float] = field(default_factory=list)
    chat: list[float] = field(default_factory=list)
    errors: int = 0


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


async def _poll_health(http: aiohttp.ClientSession, url: str, out: list[tuple[float, float, str, bool]],
                       stop: asyncio.Event) -> None:
    due = time.perf_counter()
    while not stop.is_set():
        ok = True
        try:
            async with http.get(f"{url}/healthz") as r:
                await r.read()
                ok = r.status == 200
        except aiohttp.ClientError:
            ok = False
        out.append((time.time(), (time.perf_counter() - due) * 1000, "health", ok))  # lateness + request time
        due = time.perf_counter() + POLL_EVERY
        await asyncio.sleep(POLL_EVERY)


async def _other_pilgrim(http: aiohttp.ClientSession, url: str, out: list[tuple[float, float, str, bool]],
                         stop: asyncio.Event) -> None:
    n = 0
    while not stop.is_set():
        n += 1
        started, ok = time.perf_counter(), True
        try:
            async with http.post(f"{url}/webchat/messages", headers=session_cookie("bench-other-pilgrim"), json={
                    "text": "assalamualaikum", "message_id": f"o-{n}-{time.time():.0f}"}) as r:
                await r.read()
                ok = r.status == 200
        except aiohttp.ClientError:
            ok = False
        out.append((time.time(), (time.perf_counter() - started) * 1000, "chat", ok))
        await asyncio.sleep(0.05)


def poller_process(url: str, conn: Any) -> None:
    """Poll until told to stop (a byte on `conn`), then send back every sample (wall time, ms, kind, ok)."""
    async def main() -> None:
        out: list[tuple[float, float, str, bool]] = []
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_reader(conn.fileno(), stop.set)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as http:
            await asyncio.gather(_poll_health(http, url, out, stop), _other_pilgrim(http, url, out, stop))
        loop.remove_reader(conn.fileno())
        conn.recv_bytes()
        conn.send(out)

    asyncio.run(main())


def window_of(samples: list[tuple[float, float, str, bool]], start: float, end: float) -> Window:
    window = Window()
    for at, ms, kind, ok in samples:
        if start <= at <= end:
            (window.health if kind == "health" else window.chat).append(ms)
            window.errors += 0 if ok else 1
    return window


async def measure(url: str, hostile: Callable[[aiohttp.ClientSession], Awaitable[str]],
                  min_window: float) -> tuple[float, float, str, float]:
    """Fire `hostile` and return its window (wall-clock start, end), its answer and how long it took;
    the window lasts until it answered and at least `min_window` seconds."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=300)) as http:
        start = time.time()
        started = time.perf_counter()
        answer = await hostile(http)
        took = time.perf_counter() - started
        await asyncio.sleep(max(0.0, min_window - took) + 0.3)  # + background work after the acknowledgement
    return start, time.time(), answer, took


# the hostile requests ----------------------------------------------------------------------------
def summarize(status: int, body: bytes) -> str:
    text = body.decode("utf-8", "replace")
    try:
        payload = json.loads(text)
    except ValueError:
        return f"{status} {text.strip()[:90]}"
    if isinstance(payload, dict) and payload.get("messages"):
        return f"{status} " + " / ".join(m["text"].replace("\n", " ")[:90] for m in payload["messages"][:2])
    return f"{status} {json.dumps(payload, ensure_ascii=False)[:110]}"


def session_cookie(user: str) -> dict[str, str]:
    """The web chat session cookie of `user`'s browser, signed with the key the server was given."""
    return {"Cookie": f"{COOKIE_NAME}={sign_session(SESSION_KEY, user)}"}


def webchat(url: str, user: str, text: str = "", attachments: list[dict[str, str]] | None = None):  # type: ignore[no-untyped-def]
    body = json.dumps({"text": text, "attachments": attachments or []}).encode()  # encoded before the clock starts
    headers = {"Content-Type": "application/json", **session_cookie(user)}

    async def send(http: aiohttp.ClientSession) -> str:
        async with http.post(f"{url}/webchat/messages", data=body, headers=headers) as r:
            return summarize(r.status, await r.read())
    return send


_update_ids = iter(range(int(time.time()), 2**31))


def telegram(url: str, text: str):  # type: ignore[no-untyped-def]
    body = json.dumps({"update_id": next(_update_ids), "message": {
        "message_id": 1, "date": int(time.time()), "text": text,
        "chat": {"id": 777001, "type": "private"}, "from": {"id": 777001, "is_bot": False, "first_name": "X"}}}).encode()

    async def send(http: aiohttp.ClientSession) -> str:
        async with http.post(f"{url}/telegram/webhook", data=body, headers={
                "X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET, "Content-Type": "application/json"}) as r:
            answer = summarize(r.status, await r.read())
        return f"{answer} (notice: text too long)" if r.status == 200 and len(text) > 4096 else answer
    return send


def whatsapp(url: str, text: str):  # type: ignore[no-untyped-def]
    from urllib.parse import urlencode

    from twilio.request_validator import RequestValidator

    form = {"From": "whatsapp:+628120000001", "To": "whatsapp:+14155238886", "Body": text,
            "MessageSid": f"SM{next(_update_ids):032d}", "NumMedia": "0"}
    headers = {"X-Twilio-Signature": RequestValidator(TWILIO_TOKEN).compute_signature(
        f"{PUBLIC_URL}/whatsapp/webhook", form), "Content-Type": "application/x-www-form-urlencoded"}
    body = urlencode(form).encode()

    async def send(http: aiohttp.ClientSession) -> str:
        async with http.post(f"{url}/whatsapp/webhook", data=body, headers=headers) as r:
            return summarize(r.status, await r.read())
    return send


def wrong_logins(url: str, count: int = 10):  # type: ignore[no-untyped-def]
    async def one(http: aiohttp.ClientSession, i: int) -> int:
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(cookie_jar=jar) as own:
            async with own.get(f"{url}/backoffice/login") as r:
                page = await r.text()
            token = re.search(r'name="csrf_token" value="([^"]+)"', page)
            async with own.post(f"{url}/backoffice/login", data={
                    "csrf_token": token.group(1) if token else "", "username": "admin",
                    "password": f"salah-{i}-tebak"}, allow_redirects=False) as r:
                await r.read()
                return r.status

    async def send(http: aiohttp.ClientSession) -> str:
        statuses = await asyncio.gather(*(one(http, i) for i in range(count)))
        return "statuses " + ", ".join(f"{s}×{statuses.count(s)}" for s in sorted(set(statuses)))
    return send


# main --------------------------------------------------------------------------------------------
def configure(base: Path, telegram_port: int) -> tuple[Path, dict[str, str]]:
    path = write_config(base)
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    config["storage"]["database_url"] = f"sqlite+aiosqlite:///{base / 'abuse.db'}"
    dead = f"http://127.0.0.1:{telegram_port}"
    config["channels"] = {
        "telegram": {"enabled": True, "base_url": f"{dead}/bot", "base_file_url": f"{dead}/file/bot",
                     "request_timeout_seconds": 2},
        "whatsapp": {"enabled": True, "from_number": "whatsapp:+14155238886", "public_url": PUBLIC_URL,
                     "api_base_url": dead, "request_timeout_seconds": 2}}
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    env = {**os.environ, "HAJIBOT_SESSION_KEY": SESSION_KEY, "HAJIBOT_TELEGRAM_TOKEN": TELEGRAM_TOKEN, "HAJIBOT_TELEGRAM_WEBHOOK_SECRET": TELEGRAM_SECRET,
           "HAJIBOT_TWILIO_ACCOUNT_SID": TWILIO_SID, "HAJIBOT_TWILIO_AUTH_TOKEN": TWILIO_TOKEN}
    return path, env


def markdown(result: dict[str, Any]) -> str:
    m = result["machine"]
    lines = [
        "# Abuse benchmark: event-loop stall under hostile requests",
        "",
        f"Run {result['date']} with `bench/abuse.py` on {m['cpu']}, {m['cores']} cores, {m['ram_gb']} GB RAM, "
        f"Python {m['python']}, {m['os']}; one `hajibot serve` process, SQLite, demo data. Load average "
        f"before {result['load_before']}, after {result['load_after']} (the machine is shared).",
        "",
        "While each request is handled, `/healthz` is polled every 10 ms and another pilgrim chats in the web chat "
        f"(one message after the other); both run in their own process. Each request was sent {result['rounds']} "
        "times; the samples of its windows are pooled. Target: p99 of `/healthz` <= 100 ms.",
        "",
        "| hostile request | took | /healthz p50 / p99 / max (ms) | other chat p50 / p99 (ms) | answer given |",
        "|---|---|---|---|---|",
    ]
    for row in result["rows"]:
        ok = "" if row["health_p99"] <= 100 else " **over target**"
        lines.append(f"| {row['request']} | {row['took_s']:.2f} s | {row['health_p50']:.1f} / {row['health_p99']:.1f} / "
                     f"{row['health_max']:.1f}{ok} | {row['chat_p50']:.0f} / {row['chat_p99']:.0f} | "
                     f"{row['answer'].replace('|', '/')} |")
    lines += ["", "`took`: median time until the hostile request was answered. The /healthz latency counts from when "
              "the poll was due (a blocked loop starts it late), so a stall shows in full.", ""]
    return "\n".join(lines)


async def run(window: float, rounds: int) -> dict[str, Any]:
    base = Path(tempfile.mkdtemp(prefix="hajibot-abuse-"))
    try:
        config, env = configure(base, free_port())
        subprocess.run([HAJIBOT, "--config", str(config), "init", "--demo"], env=env, check=True, cwd=str(REPO),
                       stdout=subprocess.DEVNULL)
        server = start_servers(config, env, 1, base)[0]
        try:
            return await measure_all(server.url, window, rounds)
        finally:
            server.proc.terminate()
            server.proc.wait(timeout=30)
            print((base / "server0.log").read_text(encoding="utf-8", errors="replace")[-3000:])
    finally:
        shutil.rmtree(base, ignore_errors=True)


def hostile_requests(url: str, png: bytes, pdf: bytes, photo: bytes, mb_text: str
                     ) -> list[tuple[str, Callable[[aiohttp.ClientSession], Awaitable[str]]]]:
    """One round of hostile requests (fresh message ids each round, so none is a redelivery)."""
    return [
        ("nothing (baseline)", lambda http: asyncio.sleep(0, result="-")),
        ("1 MB text, web chat", webchat(url, f"bench-1mb-{next(_update_ids)}", mb_text)),
        ("1 MB text, Telegram webhook", telegram(url, mb_text)),
        ("1 MB text, Twilio webhook", whatsapp(url, mb_text)),
        ("4,096-char text, web chat", webchat(url, "bench-4k", mb_text[:4096])),
        ("4,096-char text, Twilio webhook", whatsapp(url, mb_text[:4096])),
        (f"decompression-bomb PNG ({len(png) // 1024} KB, 400 M px), web chat",
         webchat(url, "bench-bomb", "ini ktp saya", [{"filename": "ktp.png", "content_type": "image/png",
                                                       "data_base64": b64(png)}])),
        (f"PDF with JavaScript ({len(pdf)} bytes), web chat",
         webchat(url, "bench-pdf", "surat", [{"filename": "surat.pdf", "content_type": "application/pdf",
                                              "data_base64": b64(pdf)}])),
        (f"{len(photo) // (1024 * 1024)} MB noise photo, web chat",
         webchat(url, "bench-photo", "", [{"filename": "foto.jpg", "content_type": "image/jpeg",
                                           "data_base64": b64(photo)}])),
        ("10 concurrent wrong staff logins", wrong_logins(url)),
    ]


async def measure_all(url: str, window: float, rounds: int) -> dict[str, Any]:
    png, pdf, photo = bomb_png(), javascript_pdf(), noise_photo()
    mb_text = ("saya mau tanya porsi haji gmn caranya " * 30_000)[:1_000_000]
    async with aiohttp.ClientSession() as http:  # first use of each path (SQL compile caches, lazy imports)
        for warm in (webchat(url, "bench-warm", "halo"), telegram(url, "halo"), whatsapp(url, "halo"),
                     webchat(url, "bench-warm", "", [{"filename": "a.pdf", "content_type": "application/pdf",
                                                      "data_base64": b64(pdf)}])):
            await warm(http)
        await asyncio.sleep(1.0)
    load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    ours, theirs = multiprocessing.get_context("spawn").Pipe()
    poller = multiprocessing.get_context("spawn").Process(target=poller_process, args=(url, theirs), daemon=True)
    poller.start()
    await asyncio.sleep(2.0)  # the poller process starts and settles
    windows: list[tuple[str, float, float, str, float]] = []
    for _ in range(rounds):
        for name, hostile in hostile_requests(url, png, pdf, photo, mb_text):
            windows.append((name, *await measure(url, hostile, window)))
    ours.send_bytes(b"stop")
    samples = await asyncio.to_thread(ours.recv)
    poller.join(timeout=10)
    rows = []
    for name in dict.fromkeys(w[0] for w in windows):
        mine = [w for w in windows if w[0] == name]
        measured = Window()
        for _, start, end, _, _ in mine:
            part = window_of(samples, start, end)
            measured.health += part.health
            measured.chat += part.chat
            measured.errors += part.errors
        took = statistics.median(w[4] for w in mine)
        answer = " / ".join(f"round {i + 1}: {a}" if len(set(w[3] for w in mine)) > 1 else a
                            for i, a in enumerate(w[3] for w in mine)) if len(set(w[3] for w in mine)) > 1 else mine[-1][3]
        row = {"request": name, "rounds": len(mine), "took_s": took, "answer": answer,
               "health_samples": len(measured.health), "health_p50": statistics.median(measured.health),
               "health_p99": percentile(measured.health, 99), "health_max": max(measured.health),
               "chat_p50": statistics.median(measured.chat or [float("nan")]),
               "chat_p99": percentile(measured.chat, 99), "errors": measured.errors}
        rows.append(row)
        print(f"{name:55s} took {took:6.2f}s healthz p50 {row['health_p50']:6.1f} p99 {row['health_p99']:7.1f} "
              f"max {row['health_max']:7.1f} chat p99 {row['chat_p99']:7.1f}  {answer[:80]}", flush=True)
    load_after = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": machine(), "rounds": rounds,
            "load_before": load_before, "load_after": load_after, "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--window", type=float, default=1.0, help="seconds measured per request (at least)")
    parser.add_argument("--rounds", type=int, default=3, help="times each request is sent (samples are pooled)")
    args = parser.parse_args()
    result = asyncio.run(run(args.window, args.rounds))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "abuse.json").write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")
    (RESULTS / "abuse.md").write_text(markdown(result), encoding="utf-8")
    print(f"written {RESULTS / 'abuse.md'}")


if __name__ == "__main__":
    main()
