"""Load benchmark (not a test): conversations through the real web chat endpoint (or a Rasa REST channel).

Starts 1..P `hajibot serve` processes on a fresh database (SQLite file or a new PostgreSQL database),
imports a generated registry, then drives N concurrent virtual pilgrims from this process over loopback.
Each pilgrim runs sessions one after another, waiting for each reply like a person would. Scenarios
(--scenario):
  mixed (default)
    status check (40%)  greet, "cek porsi X", birth date, thanks
    FAQ (25%)           two or three questions from nlu/data/faq.yml, thanks
    chit-chat (30%)     hello, how are you, menu, thanks
    pembatalan (5%)     a full deceased-pilgrim cancellation: answers, 13 documents (photo uploads), confirm
  text                  text only, every session the same six messages (issue 14's script): greeting ->
                        "mau cek porsi N" -> birth date -> cost question -> office question -> thanks
  text+uploads          the text script for the whole run; in its second half --uploaders more pilgrims run
                        the pembatalan form with its 13 photo uploads (a burst of document checks, letters, and
                        OCR of the submitted cases' KTP/KK). Reported besides: the text messages' latency in the
                        first half ("quiet") and the second ("uploads") and the p99 increase (issue 14: documents
                        never slow text, at most +20 %); the photo messages' latency; per half, the servers' CPU
                        per message and the CPU of their worker processes (with the Tesseract runs). The
                        uploaders' own messages add load: when the text pilgrims alone keep the server busy
                        (--think 0), text latency rises with that load too; --think N (a pause before each
                        message) keeps the server below capacity, so the increase shows what documents cost text.
                        OCR starts 30 s after the server and looks for documents every 30 s: use --duration 120+.
Requests go round-robin over the processes (like a load balancer). Reported: messages/s, latency
p50/p95/p99/max, errors (non-200 or no reply), messages lost (acknowledged but not processed in the
database), server CPU per message, RSS (start/end/max), load average before and after, the machine.
Each run is written to bench/results/load-<scenario>-<target>-<db>-<P>p-<N>u-<UTC time>.json and merged
into bench/results/load.json and load.md; with --flame, a py-spy flame graph of the first server process over
the run is saved beside it (.svg; py-spy is in the `bench` extra: pip install -e .[bench]).

Usage:
  .venv/bin/python bench/load.py --db sqlite --procs 1 --users 64 --duration 60
  .venv/bin/python bench/load.py --db postgres --procs 2 --users 64 --duration 60
  .venv/bin/python bench/load.py --db postgres --procs 2 --users 64 --soak 600     # memory over 10 minutes
  .venv/bin/python bench/load.py --scenario text --db sqlite --users 20 --duration 60 --flame
  .venv/bin/python bench/load.py --scenario text+uploads --db sqlite --users 20 --uploaders 4 --duration 120
  .venv/bin/python bench/load.py --scenario text+uploads --db sqlite --users 20 --uploaders 4 --duration 120 --think 100
  # the same text script against a running Rasa assistant's REST channel (rest: in its credentials.yml);
  # --rasa-pid: the `rasa run` process, to report its CPU per message and RSS:
  .venv/bin/python bench/load.py --scenario text --rasa-url http://127.0.0.1:5005 --rasa-pid 12345 --users 20
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import io
import itertools
import json
import os
import platform
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import psutil
import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from bot.channels.webchat_session import COOKIE_NAME, sign_session  # noqa: E402

SESSION_KEY = "load-benchmark-session-key"  # passed to the servers as HAJIBOT_SESSION_KEY
HAJIBOT = str(REPO / ".venv" / "bin" / "hajibot")
RESULTS = REPO / "bench" / "results"
PG_DEFAULT = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
REGISTRY_ROWS = 20_000
SCENARIOS = ("mixed", "text", "text+uploads")
# the text script's free questions, as pilgrims write them (informal, some Minang)
GREETINGS = ("assalamualaikum", "halo", "selamat pagi", "assalamualaikum min", "permisi pak")
COST_QUESTIONS = ("berapa biaya pelunasan haji tahun ini?", "biaya haji brp skrg?",
                  "pelunasan bipih berapa ya pak", "bara biaya haji kini?")
OFFICE_QUESTIONS = ("kantor kemenag buka jam berapa?", "alamat kantornya dimana?", "jam buka kantor haji kapan",
                    "dima kantor kemenag?")
THANKS = ("terima kasih", "makasih ya", "trimakasih pak", "tarimo kasih")
HEADER = "nomor_porsi,nama,nik,tanggal_lahir,jenis_kelamin,kab_kota,provinsi,status,estimasi_tahun,bank,tanggal_daftar\n"


# data -------------------------------------------------------------------------------------------
def porsi(i: int) -> str:
    return f"{1300000000 + i:010d}"


def born(i: int) -> date:
    return date(1945, 1, 1) + timedelta(days=(i * 37) % 20000)


def registry_csv(rows: int) -> str:
    lines = [HEADER]
    for i in range(rows):
        lines.append(f"{porsi(i)},JEMAAH UJI {i},{1375010000000000 + i:016d},{born(i).isoformat()},{'LP'[i % 2]},"
                     f"Kota Bukittinggi,Sumatera Barat,menunggu,{2030 + i % 20},Bank Syariah Indonesia,2012-03-14\n")
    return "".join(lines)


def photos(count: int = 48) -> list[str]:
    """Document-like JPEG photos (640x480: black strokes on white), base64, all different."""
    import numpy as np
    from PIL import Image

    out = []
    for seed in range(count):
        rng = np.random.default_rng(seed)
        a = np.full((480, 640), 235, dtype=np.uint8)
        for _ in range(200):
            y, x = rng.integers(0, 468), rng.integers(0, 580)
            a[y:y + 4, x:x + rng.integers(10, 60)] = 20
        buf = io.BytesIO()
        Image.fromarray(a).convert("RGB").save(buf, "JPEG", quality=70)
        out.append(base64.b64encode(buf.getvalue()).decode())
    return out


def faq_questions() -> list[str]:
    data = yaml.safe_load((REPO / "nlu" / "data" / "faq.yml").read_text(encoding="utf-8"))
    return [q for entry in data.get("faq", []) for q in entry.get("questions", [])[:2]]


# servers ----------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(base: Path) -> Path:
    config: dict[str, Any] = yaml.safe_load((REPO / "config.yml").read_text(encoding="utf-8"))
    config["nlu"]["data_dir"] = str(REPO / "nlu" / "data")
    config["nlu"]["cache_dir"] = str(REPO / "var" / "nlu-cache")
    config.setdefault("dialogue", {})
    for key in ("flows_dir", "responses_dir", "rules_dir"):
        config["dialogue"][key] = str(REPO / "dialogues" / key.split("_")[0])
    config.setdefault("server", {})["log_level"] = "WARNING"
    config.setdefault("storage", {})["files_dir"] = str(base / "files")
    config["storage"]["pool_size"] = 20
    path = base / "config.yml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return path


async def create_pg_database(base_url: str, name: str) -> str:
    from sqlalchemy import text
    from sqlalchemy.engine import make_url
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(make_url(base_url), isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await engine.dispose()
    return make_url(base_url).set(database=name).render_as_string(hide_password=False)


def run_cli(config: Path, env: dict[str, str], *args: str) -> None:
    subprocess.run([HAJIBOT, "--config", str(config), *args], env=env, check=True, cwd=str(REPO),
                   stdout=subprocess.DEVNULL)


@dataclass
class ServerProc:
    proc: subprocess.Popen[bytes] | None  # None: a server this script did not start (--rasa-pid)
    url: str
    ps: psutil.Process
    rss: list[int] = field(default_factory=list)


def start_servers(config: Path, env: dict[str, str], count: int, logdir: Path) -> list[ServerProc]:
    import urllib.request

    servers = []
    for i in range(count):
        port = free_port()
        log = open(logdir / f"server{i}.log", "ab")
        proc = subprocess.Popen([HAJIBOT, "--config", str(config), "serve", "--port", str(port)], env=env,
                                stdout=log, stderr=subprocess.STDOUT, cwd=str(REPO))
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180
        while True:
            try:
                if urllib.request.urlopen(f"{url}/readyz", timeout=2).status == 200:
                    break
            except Exception:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"server {i} did not start; see {logdir}/server{i}.log")
                time.sleep(0.2)
        servers.append(ServerProc(proc, url, psutil.Process(proc.pid)))
    return servers


# virtual pilgrims ---------------------------------------------------------------------------------
@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    acked: int = 0
    sessions: dict[str, int] = field(default_factory=dict)
    uploads: int = 0
    # text+uploads: the text pilgrims' latencies before ("quiet") and during ("uploads") the upload burst
    text_phases: dict[str, list[float]] = field(default_factory=lambda: {"quiet": [], "uploads": []})
    uploads_from: float = float("inf")  # monotonic time the uploaders start
    upload_latencies: list[float] = field(default_factory=list)  # the uploaders' photo messages
    phase_cpu: dict[str, tuple[float, float]] = field(default_factory=dict)  # CPU snapshots (process_cpu)
    phase_messages: dict[str, int] = field(default_factory=dict)  # messages answered when the snapshot was taken


class WebChat:
    """hajibot's web chat: POST /webchat/messages with the browser's signed session cookie."""

    name = "hajibot"

    def __init__(self, uid: int) -> None:
        # the browser's session cookie, signed with the key the servers share (so any process accepts it)
        self.headers = {"Content-Type": "application/json",
                        "Cookie": f"{COOKIE_NAME}={sign_session(SESSION_KEY, f'load-{uid}')}"}

    def request(self, base: str, uid: int, seq: int, text: str, photo: str | None) -> tuple[str, dict[str, Any]]:
        body: dict[str, Any] = {"text": text, "message_id": f"load-{uid}-{seq}"}
        if photo is not None:
            body["attachments"] = [{"filename": "dokumen.jpg", "content_type": "image/jpeg", "data_base64": photo}]
        return f"{base}/webchat/messages", body

    @staticmethod
    def replies(payload: Any) -> list[str]:
        return [m["text"] for m in payload.get("messages") or []] if isinstance(payload, dict) else []


class RasaRest:
    """A Rasa assistant's REST channel: POST /webhooks/rest/webhook {"sender", "message"} -> [{"text"}, ...]."""

    name = "rasa"
    headers = {"Content-Type": "application/json"}

    def __init__(self, uid: int) -> None:
        pass

    def request(self, base: str, uid: int, seq: int, text: str, photo: str | None) -> tuple[str, dict[str, Any]]:
        if photo is not None:
            raise ValueError("the Rasa REST channel takes text only: use --scenario text")
        return f"{base}/webhooks/rest/webhook", {"sender": f"load-{uid}", "message": text}

    @staticmethod
    def replies(payload: Any) -> list[str]:
        return [m.get("text") or "" for m in payload if isinstance(m, dict)] if isinstance(payload, list) else []


class Pilgrim:
    def __init__(self, uid: int, http: aiohttp.ClientSession, urls: itertools.cycle, stats: Stats,
                 photos: list[str], faqs: list[str], rng: random.Random, scenario: str = "mixed",
                 target: type[WebChat] | type[RasaRest] = WebChat) -> None:
        self.uid, self.http, self.urls, self.stats, self.photos, self.faqs, self.rng = uid, http, urls, stats, photos, faqs, rng
        self.scenario = scenario
        self.think = 0.0  # seconds a pilgrim pauses before each message (reading the reply, typing)
        self.target = target(uid)
        self.seq = 0
        self.session_no = 0

    async def say(self, text: str = "", photo: str | None = None) -> str:
        if self.think:
            await asyncio.sleep(self.think)
        self.seq += 1
        url, body = self.target.request(next(self.urls), self.uid, self.seq, text, photo)
        if photo is not None:
            self.stats.uploads += 1
        started = time.perf_counter()
        try:
            # orjson and no cookie jar (the cookie is in the headers): the generator's own CPU stays small, as it
            # shares the machine with the server
            async with self.http.post(url, data=orjson.dumps(body), headers=self.target.headers) as response:
                payload = orjson.loads(await response.read())
                status = response.status
        except Exception as exc:  # noqa: BLE001 - counted as an error
            self.stats.errors += 1
            if len(self.stats.error_samples) < 5:
                self.stats.error_samples.append(type(exc).__name__)
            return ""
        self.stats.latencies.append(time.perf_counter() - started)
        if photo is not None:
            self.stats.upload_latencies.append(self.stats.latencies[-1])
        if self.scenario == "text+uploads":
            phase = "uploads" if time.monotonic() >= self.stats.uploads_from else "quiet"
            self.stats.text_phases[phase].append(self.stats.latencies[-1])
        replies = self.target.replies(payload)
        if status != 200 or not replies:
            self.stats.errors += 1
            if len(self.stats.error_samples) < 5:
                self.stats.error_samples.append(f"{status}: {str(payload)[:120]}")
            return ""
        self.stats.acked += 1
        return "\n".join(replies)

    async def run(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            if self.scenario in ("text", "text+uploads"):
                kind = "text"
            elif self.scenario == "uploads":
                kind = "pembatalan"
            else:
                kind = self.rng.choices(["status", "faq", "chitchat", "pembatalan"], [40, 25, 30, 5])[0]
            self.session_no += 1
            await getattr(self, kind)()
            self.stats.sessions[kind] = self.stats.sessions.get(kind, 0) + 1

    def _pilgrim_index(self) -> int:
        return (self.uid * 7919 + self.session_no * 104729) % REGISTRY_ROWS

    async def status(self) -> None:
        i = self._pilgrim_index()
        await self.say(self.rng.choice(["assalamualaikum", "halo", "selamat pagi"]))
        await self.say(f"cek porsi {porsi(i)}")
        await self.say(f"lahir {born(i):%d/%m/%Y}")
        await self.say("terima kasih")

    async def text(self) -> None:
        """Issue 14's text-only script: greeting, porsi check, birth date, cost, office, thanks."""
        i = self._pilgrim_index()
        await self.say(self.rng.choice(GREETINGS))
        await self.say(f"mau cek porsi {porsi(i)}")
        await self.say(f"{born(i):%d-%m-%Y}")
        await self.say(self.rng.choice(COST_QUESTIONS))
        await self.say(self.rng.choice(OFFICE_QUESTIONS))
        await self.say(self.rng.choice(THANKS))

    async def faq(self) -> None:
        for question in self.rng.sample(self.faqs, self.rng.randint(2, 3)):
            await self.say(question)
        await self.say("terima kasih")

    async def chitchat(self) -> None:
        for text in ("halo", self.rng.choice(["apa kabar?", "siapa kamu?", "kamu bot ya?"]), "menu", "makasih ya"):
            await self.say(text)

    async def pembatalan(self) -> None:
        i = self._pilgrim_index()
        for text in ("bapak saya sudah meninggal, mau batal haji", "tidak", f"porsi {porsi(i)} lahir {born(i):%d/%m/%Y}",
                     "tgl 14 agst 25", "Ahmad Fauzi", "anak kandung", "BSI", "Ahmad Fauzi", "7123 4567 89"):
            out = await self.say(text)
        for _ in range(16):
            if "Ringkasan" in out or not out:
                break
            if 'ketik "lewati"' in out:
                out = await self.say("lewati")
                continue
            await self.say(photo=self.rng.choice(self.photos))
            out = await self.say("selesai")
        if "Ringkasan" in out:
            await self.say("ya")
        else:
            await self.say("stop")


def percentile(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


async def drive(urls: list[str], users: int, seconds: float, servers: list[ServerProc], sample_every: float,
                scenario: str = "mixed", target: type[WebChat] | type[RasaRest] = WebChat, uploaders: int = 0,
                think: float = 0.0) -> tuple[Stats, float, list[dict[str, Any]]]:
    stats = Stats()
    pics, faqs = (photos(), faq_questions()) if scenario in ("mixed", "text+uploads") else ([], [])
    connector = aiohttp.TCPConnector(limit=0)  # one kept-alive connection per pilgrim, reused
    timeline: list[dict[str, Any]] = []
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30),
                                     cookie_jar=aiohttp.DummyCookieJar()) as http:
        cycle = itertools.cycle(urls)
        pilgrims = [Pilgrim(u, http, cycle, stats, pics, faqs, random.Random(u), scenario, target)
                    for u in range(users)]
        started = time.monotonic()
        deadline = started + seconds
        burst: list[Pilgrim] = []
        if scenario == "text+uploads":  # the second half: uploaders join (their own latencies are not text's)
            stats.uploads_from = started + seconds / 2
            burst = [Pilgrim(users + u, http, cycle, stats, pics, faqs, random.Random(users + u), "uploads", target)
                     for u in range(uploaders)]

        async def upload_burst(pilgrim: Pilgrim) -> None:
            await asyncio.sleep(max(0.0, stats.uploads_from - time.monotonic()))
            await pilgrim.run(deadline)

        async def sample() -> None:
            last = 0
            while time.monotonic() < deadline:
                await asyncio.sleep(sample_every)
                rss = [s.ps.memory_info().rss for s in servers]
                for s, r in zip(servers, rss):
                    s.rss.append(r)
                done = len(stats.latencies)
                timeline.append({"t": round(time.monotonic() - started), "rss_mb": [round(r / 2**20, 1) for r in rss],
                                 "msgs_per_s": round((done - last) / sample_every, 1)})
                last = done

        async def mark_phase() -> None:
            await asyncio.sleep(max(0.0, stats.uploads_from - time.monotonic()))
            stats.phase_cpu["uploads"] = process_cpu(servers)
            stats.phase_messages["uploads"] = len(stats.latencies) + stats.errors

        if burst:
            stats.phase_cpu["quiet"], stats.phase_messages["quiet"] = process_cpu(servers), 0
        for pilgrim in pilgrims + burst:
            pilgrim.think = think
        sampler = asyncio.create_task(sample())
        marker = asyncio.create_task(mark_phase()) if burst else None
        await asyncio.gather(*(p.run(deadline) for p in pilgrims), *(upload_burst(p) for p in burst))
        elapsed = time.monotonic() - started
        if burst:
            stats.phase_cpu["end"] = process_cpu(servers)
            stats.phase_messages["end"] = len(stats.latencies) + stats.errors
        sampler.cancel()
        if marker is not None:
            marker.cancel()
    return stats, elapsed, timeline


def process_cpu(servers: list[ServerProc]) -> tuple[float, float]:
    """CPU seconds so far of (the server processes themselves, their worker processes with the programs those
    ran, e.g. Tesseract)."""
    own = workers = 0.0
    for server in servers:
        try:
            times = server.ps.cpu_times()
            own += times.user + times.system
            children = server.ps.children(recursive=True)
        except psutil.Error:
            continue
        for child in children:
            try:
                times = child.cpu_times()
                # a direct child's finished children (OCR runs) are in its children_* times; running ones are listed
                finished = times.children_user + times.children_system if child.ppid() == server.ps.pid else 0.0
                workers += times.user + times.system + finished
            except psutil.Error:
                continue
    return own, workers


async def check_lost(database_url: str, acked: int) -> dict[str, int]:
    from sqlalchemy import func, select

    from storage.db import Database
    from storage.models import Message

    db = Database(database_url)
    try:
        async with db.session() as session:
            rows = dict((await session.execute(select(Message.status, func.count(Message.id)).where(
                Message.direction == "in", Message.channel_message_id.like("load-%")).group_by(Message.status))).all())
    finally:
        await db.dispose()
    return {"inbound_processed": rows.get("processed", 0), "inbound_other": sum(v for k, v in rows.items() if k != "processed"),
            "lost": max(0, acked - rows.get("processed", 0))}


# main -------------------------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "python": platform.python_version(), "os": platform.platform(terse=True)}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", choices=SCENARIOS, default="mixed", help="conversation script (see above)")
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--pg-url", default=os.environ.get("HAJIBOT_BENCH_PG_URL", PG_DEFAULT))
    parser.add_argument("--procs", type=int, default=1)
    parser.add_argument("--users", type=int, default=64)
    parser.add_argument("--duration", type=float, default=60)
    parser.add_argument("--soak", type=float, default=0, help="soak for this many seconds instead (memory trend)")
    parser.add_argument("--rasa-url", default=None, help="drive a running Rasa assistant's REST channel instead "
                        "of starting hajibot (text scenario only)")
    parser.add_argument("--rasa-pid", type=int, action="append", default=[],
                        help="pid of the Rasa server process (repeatable): its CPU per message and RSS are reported")
    parser.add_argument("--uploaders", type=int, default=4,
                        help="text+uploads: pilgrims uploading documents in the second half of the run")
    parser.add_argument("--think", type=float, default=0, help="milliseconds each pilgrim pauses before each "
                        "message (default 0: the next message leaves as soon as the reply arrived)")
    parser.add_argument("--flame", action="store_true",
                        help="record a py-spy flame graph (SVG) of the first server over the run, saved with it")
    parser.add_argument("--note", default="", help="free text stored with the result (e.g. what else ran)")
    parser.add_argument("--name", default=None, help="result key (default: <scenario>-<target>-<db>-<procs>proc)")
    parser.add_argument("--no-save", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs)")
    args = parser.parse_args()
    if args.rasa_url and args.scenario != "text":
        parser.error("--rasa-url needs --scenario text (the Rasa REST channel takes no photos)")
    return args


async def start_hajibot(args: argparse.Namespace, base: Path) -> tuple[list[ServerProc], str]:
    """Fresh database, registry, `hajibot init --demo`, then the server processes."""
    config = write_config(base)
    env = {**os.environ}
    env.pop("HAJIBOT_CONFIG", None)
    env["HAJIBOT_SESSION_KEY"] = SESSION_KEY
    if args.db == "sqlite":
        database_url = f"sqlite+aiosqlite:///{base / 'load.db'}"
    else:
        database_url = await create_pg_database(args.pg_url, f"hajibot_load_{os.getpid()}")
    env["HAJIBOT_DATABASE_URL"] = database_url
    (base / "registry.csv").write_text(registry_csv(REGISTRY_ROWS), encoding="utf-8")
    run_cli(config, env, "init", "--demo")
    run_cli(config, env, "import-porsi", str(base / "registry.csv"))
    return start_servers(config, env, args.procs, base), database_url


async def main() -> None:
    args = parse_args()
    base = Path(tempfile.mkdtemp(prefix="hajibot-load-"))
    target: type[WebChat] | type[RasaRest] = RasaRest if args.rasa_url else WebChat
    database_url = ""
    if args.rasa_url:
        servers = [ServerProc(None, args.rasa_url.rstrip("/"), psutil.Process(pid)) for pid in args.rasa_pid]
        urls = [args.rasa_url.rstrip("/")]
    else:
        servers, database_url = await start_hajibot(args, base)
        urls = [s.url for s in servers]
    seconds = args.soak or args.duration
    where = f"Rasa REST {args.rasa_url}" if args.rasa_url else f"{args.db}, {args.procs} process(es)"
    print(f"{args.scenario}: {where}, {args.users} users, {seconds:.0f} s ...", flush=True)
    load_before = [round(x, 2) for x in os.getloadavg()]
    lost = {"inbound_processed": 0, "inbound_other": 0, "lost": 0}
    try:
        rss_start = [s.ps.memory_info().rss for s in servers]
        cpu_start = [s.ps.cpu_times() for s in servers]
        switches_start = [s.ps.num_ctx_switches() for s in servers]
        me = psutil.Process()
        client_cpu_start = sum(me.cpu_times()[:2])
        flame = start_flame(servers[0].ps.pid, seconds) if args.flame and servers else None
        stats, elapsed, timeline = await drive(urls, args.users, seconds, servers, 30 if args.soak else 5,
                                               args.scenario, target, args.uploaders, args.think / 1000)
        rss_end = [s.ps.memory_info().rss for s in servers]
        cpu_end = [s.ps.cpu_times() for s in servers]
        server_user = sum(end.user - start.user for start, end in zip(cpu_start, cpu_end))
        server_sys = sum(end.system - start.system for start, end in zip(cpu_start, cpu_end))
        server_cpu = server_user + server_sys
        server_switches = sum(sum(end) - sum(start) for start, end in
                              zip(switches_start, [s.ps.num_ctx_switches() for s in servers]))
        client_cpu = sum(me.cpu_times()[:2]) - client_cpu_start
        load_after = [round(x, 2) for x in os.getloadavg()]
        if database_url:
            await asyncio.sleep(1)
            lost = await check_lost(database_url, stats.acked)
    finally:
        for s in servers:
            if s.proc is not None:
                s.proc.terminate()
        for s in servers:
            if s.proc is None:
                continue
            try:
                s.proc.wait(20)
            except subprocess.TimeoutExpired:
                s.proc.kill()
    lat = stats.latencies
    result = {
        "scenario": args.scenario, "target": target.name,
        "db": "rasa" if args.rasa_url else args.db, "processes": len(servers) if args.rasa_url else args.procs,
        "users": args.users, "think_ms": args.think, "seconds": round(elapsed, 1),
        "messages": len(lat) + stats.errors, "messages_per_s": round(len(lat) / elapsed, 1),
        "latency_ms": {k: round(percentile(lat, p) * 1000, 1) for k, p in (("p50", 50), ("p95", 95), ("p99", 99), ("max", 100))},
        "mean_ms": round(statistics.fmean(lat) * 1000, 1) if lat else 0,
        "errors": stats.errors, "error_samples": stats.error_samples, "uploads": stats.uploads,
        "sessions": stats.sessions, **lost,
        "server_cpu_ms_per_message": round(1000 * server_cpu / max(1, len(lat)), 2) if servers else None,
        # the same split into user and kernel (system) time, and the server's context switches per message
        "server_cpu_ms_user_system": [round(1000 * t / max(1, len(lat)), 2) for t in (server_user, server_sys)]
        if servers else None,
        "server_context_switches_per_message": round(server_switches / max(1, len(lat)), 2) if servers else None,
        "client_cpu_ms_per_message": round(1000 * client_cpu / max(1, len(lat)), 2),
        "machine_load_avg": load_after, "machine_load_avg_before": load_before,
        "rss_mb": {"start": [round(r / 2**20, 1) for r in rss_start], "end": [round(r / 2**20, 1) for r in rss_end],
                   "max": [round(max(s.rss or [0]) / 2**20, 1) for s in servers]},
        **(text_phases(stats) if args.scenario == "text+uploads" else {}),
        "timeline": timeline if args.soak else [],
        "machine": machine(), "at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "note": args.note,
    }
    print(json.dumps({k: v for k, v in result.items() if k != "timeline"}, indent=2))
    svg = finish_flame(flame) if flame else None
    if not args.no_save:
        default = (f"{args.db}-{args.procs}proc{'-soak' if args.soak else ''}" if args.scenario == "mixed"
                   and not args.rasa_url else f"{args.scenario}-{result['db']}-{result['processes']}proc-{args.users}u"
                   f"{'-soak' if args.soak else ''}")
        run_file = save(args.name or default, result, svg)
        print(f"saved {run_file}" + (f" and {run_file.with_suffix('.svg').name}" if svg else ""))
    if database_url and args.db == "postgres":
        from sqlalchemy.engine import make_url

        await drop_pg_database(args.pg_url, make_url(database_url).database or "")
    if not args.keep:
        shutil.rmtree(base, ignore_errors=True)
    else:
        print(f"kept {base}")


async def drop_pg_database(base_url: str, name: str) -> None:
    from sqlalchemy import text
    from sqlalchemy.engine import make_url
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(make_url(base_url), isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await engine.dispose()


def text_phases(stats: Stats) -> dict[str, Any]:
    """text+uploads: the text messages' latency without and with the upload burst and the p99 increase; the
    photo messages' latency; per phase, the servers' CPU per message and the CPU their workers used."""
    phases = {phase: {"messages": len(lat), **{k: round(percentile(lat, p) * 1000, 1)
                                                for k, p in (("p50", 50), ("p95", 95), ("p99", 99))}}
              for phase, lat in stats.text_phases.items()}
    quiet, busy = phases["quiet"]["p99"], phases["uploads"]["p99"]
    cpu: dict[str, Any] = {}
    marks = [m for m in ("quiet", "uploads", "end") if m in stats.phase_cpu]
    if len(marks) == 3:
        for phase, (a, b) in {"quiet": ("quiet", "uploads"), "uploads": ("uploads", "end")}.items():
            messages = max(1, stats.phase_messages[b] - stats.phase_messages[a])
            server = stats.phase_cpu[b][0] - stats.phase_cpu[a][0]
            cpu[phase] = {"messages": messages, "server_cpu_ms_per_message": round(1000 * server / messages, 2),
                          "workers_cpu_s": round(stats.phase_cpu[b][1] - stats.phase_cpu[a][1], 1)}
        if stats.uploads:  # the servers' CPU in the burst beyond what its messages cost at the quiet rate
            extra = (cpu["uploads"]["server_cpu_ms_per_message"] - cpu["quiet"]["server_cpu_ms_per_message"]) * \
                cpu["uploads"]["messages"]
            cpu["server_cpu_ms_per_upload_extra"] = round(extra / stats.uploads, 2)
    up = stats.upload_latencies
    return {"text_latency_ms": phases,
            "text_p99_increase_pct": round(100 * (busy - quiet) / quiet, 1) if quiet else None,
            "upload_latency_ms": {"messages": len(up), **{k: round(percentile(up, p) * 1000, 1)
                                                          for k, p in (("p50", 50), ("p95", 95), ("p99", 99))}},
            "phase_cpu": cpu}


def start_flame(pid: int, seconds: float) -> tuple[subprocess.Popen[bytes], Path] | None:
    """py-spy sampling the server for the run (100 Hz, without pausing it); None when py-spy is missing."""
    spy = shutil.which("py-spy", path=str(REPO / ".venv" / "bin")) or shutil.which("py-spy")
    if spy is None:
        print("--flame: py-spy not found (pip install -e .[bench]); no flame graph", flush=True)
        return None
    svg = Path(tempfile.mkstemp(suffix=".svg", prefix="hajibot-flame-")[1])
    proc = subprocess.Popen([spy, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", "100",
                             "--nonblocking", "--output", str(svg)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return proc, svg


def finish_flame(flame: tuple[subprocess.Popen[bytes], Path]) -> Path | None:
    proc, svg = flame
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        return None
    if proc.returncode != 0 or not svg.exists() or svg.stat().st_size == 0:
        print(f"--flame: py-spy failed: {err.decode(errors='replace').strip()[-300:]}", flush=True)
        return None
    return svg


def save(name: str, result: dict[str, Any], svg: Path | None = None) -> Path:
    """Write this run to its own file (and its flame graph beside it) and merge it into load.json / load.md;
    returns the run's file."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M", time.gmtime())
    run_file = RESULTS / (f"load-{result.get('scenario', 'mixed').replace('+', '-')}-{result.get('target', 'hajibot')}-"
                          f"{result['db']}-{result['processes']}p-{result['users']}u-{stamp}.json")
    if svg is not None:
        shutil.move(str(svg), run_file.with_suffix(".svg"))
        result["flame_graph"] = run_file.with_suffix(".svg").name
    run_file.write_text(json.dumps({"name": name, **result}, indent=2, ensure_ascii=False) + "\n")
    path = RESULTS / "load.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data[name] = result
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    (RESULTS / "load.md").write_text(markdown(data))
    return run_file


def markdown(data: dict[str, Any]) -> str:
    any_result = next(iter(data.values()))
    m = any_result["machine"]
    lines = ["# Load benchmark (`bench/load.py`)", "",
             f"Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gb']} GB RAM, Python {m['python']}, {m['os']}; "
             "PostgreSQL 15 on the same machine.",
             "",
             "Caveats: the load generator runs on the same 2 cores (loopback), as do PostgreSQL and the servers; the "
             "machine was shared with other work while measuring (load average in the last column), so figures are "
             "lower bounds. Mix per virtual pilgrim: status check 40 %, FAQ 25 %, chit-chat 30 %, full pembatalan "
             "with 13 photo uploads 5 % of sessions; each pilgrim waits for the reply before the next message. "
             "Targets: 500 msg/s SQLite 1 process, 1000 msg/s PostgreSQL 2 processes, p99 <= 100 ms, 0 errors. "
             "For comparison, a Rasa 3.6 server with a small form served 23 msg/s (p99 2.3 s). Scenario `text`: "
             "issue 14's text-only script (greeting, cek porsi, birth date, cost question, office question, thanks); "
             "db `rasa`: the same script against a Rasa REST channel. One file per run: `bench/results/load-*.json`.",
             "", "| run | scenario | db | procs | users | s | msg/s | p50 ms | p95 ms | p99 ms | errors | lost | uploads | "
             "server CPU ms/msg | RSS MB start→end (max) | load avg | at |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in data.items():
        rss = ", ".join(f"{a:.0f}→{b:.0f} ({c:.0f})" for a, b, c in zip(r["rss_mb"]["start"], r["rss_mb"]["end"], r["rss_mb"]["max"]))
        lines.append(f"| {name} | {r.get('scenario', 'mixed')} | {r['db']} | {r['processes']} | {r['users']} | "
                     f"{r['seconds']:.0f} | {r['messages_per_s']} | "
                     f"{r['latency_ms']['p50']} | {r['latency_ms']['p95']} | {r['latency_ms']['p99']} | {r['errors']} | "
                     f"{r['lost']} | {r['uploads']} | {r.get('server_cpu_ms_per_message', '-')} | {rss} | "
                     f"{r.get('machine_load_avg', ['-'])[0]} | {r['at']} |")
    phases = [(name, r) for name, r in data.items() if r.get("text_latency_ms")]
    if phases:
        lines += ["", "Documents vs text (`text+uploads`): text messages' latency before and during the upload burst "
                  "(target: p99 up by at most 20 %):", "",
                  "| run | text p50/p99 ms, quiet | text p50/p99 ms, with uploads | p99 increase | uploads |",
                  "|---|---|---|---|---|"]
        for name, r in phases:
            q, u = r["text_latency_ms"]["quiet"], r["text_latency_ms"]["uploads"]
            lines.append(f"| {name} | {q['p50']} / {q['p99']} | {u['p50']} / {u['p99']} | "
                         f"{r['text_p99_increase_pct']} % | {r['uploads']} |")
    flames = [f"- {name}: `{r['flame_graph']}`" for name, r in data.items() if r.get("flame_graph")]
    if flames:
        lines += ["", "Flame graphs (py-spy, first server process, whole run):", "", *flames]
    notes = [f"- {name}: {r['note']}" for name, r in data.items() if r.get("note")]
    if notes:
        lines += ["", "Notes:", "", *notes]
    soak = [r for r in data.values() if r.get("timeline")]
    for r in soak:
        lines += ["", f"Soak ({r['db']}, {r['processes']} processes, {r['seconds']:.0f} s): RSS per process over time "
                  "(MB) and throughput per interval:", "",
                  "| t (s) | RSS MB | msg/s |", "|---|---|---|"]
        lines += [f"| {p['t']} | {', '.join(str(x) for x in p['rss_mb'])} | {p['msgs_per_s']} |" for p in r["timeline"]]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    asyncio.run(main())
