"""docs/deployment.md's production layout, followed literally: two `hajibot serve` workers on PostgreSQL (config in
an `etc` folder, state under `var/lib`, started as deploy/hajibot@.service does) behind Debian's nginx running the
repository's deploy/nginx-hajibot.conf, with `security.trusted_proxies: [127.0.0.1]` as §6 says.

The sample config is used verbatim except for what an office substitutes when it installs it:
- `server_name haji.example.go.id` -> `hajibot.test` (the office's domain);
- the Let's Encrypt certificate and key paths -> a self-signed certificate made here (`cryptography`);
- `listen 80` / `listen 443` -> free ports (this machine's 80/443 may be taken, and the test may not be root);
- the upstream's `127.0.0.1:8081` / `127.0.0.1:8082` -> the two workers' ports.
The site file is included from a minimal nginx.conf standing in for Debian's /etc/nginx/nginx.conf (pid, logs and
temporary files in the test's folder).

Needs nginx (scripts/install-test-deps.sh installs Debian's as root) and PostgreSQL: the guide runs several
workers on PostgreSQL only (they coordinate through it), so the test is skipped on SQLite."""
from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import os
import re
import shutil
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from bot.core.requester import RequesterKeys
from tests.conftest import PG_URL, REPO
from tests.foundation.test_layout import Worker, cli_command, etc_config, run, workers  # noqa: F401 - fixture
from tests.ops.servers import SESSION_KEY, free_port
from storage.models import Message

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
SAMPLE = REPO / "deploy" / "nginx-hajibot.conf"
DOMAIN = "hajibot.test"
CLIENT_ADDRESS = "127.0.0.2"  # the pilgrim's browser: another loopback address than nginx's own 127.0.0.1
METRICS_TOKEN = "nginx-layout-metrics-token"

pytestmark = [
    pytest.mark.skipif(not PG_URL, reason="the deployment guide runs several workers on PostgreSQL only "
                                          "(set HAJIBOT_TEST_DATABASE_URL)"),
    pytest.mark.skipif(not os.access(NGINX, os.X_OK), reason="nginx is not installed "
                                                             "(scripts/install-test-deps.sh installs it as root)"),
]


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for DOMAIN and 127.0.0.1, in place of certbot's fullchain.pem / privkey.pem."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, DOMAIN)])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(DOMAIN),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    fullchain, privkey = folder / "fullchain.pem", folder / "privkey.pem"
    fullchain.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    privkey.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    privkey.chmod(0o600)
    return fullchain, privkey


def substitute(text: str, old: str, new: str, count: int) -> str:
    """Replace `old` exactly `count` times: the sample config changing shape fails here, not silently."""
    found = len(re.findall(re.escape(old), text))
    assert found == count, f"{SAMPLE.name}: expected {count}x {old!r}, found {found}"
    return text.replace(old, new)


def office_site(http_port: int, https_port: int, upstream: list[int], cert: tuple[Path, Path]) -> str:
    """deploy/nginx-hajibot.conf as an office installs it (see the module docstring)."""
    site = SAMPLE.read_text(encoding="utf-8")
    site = substitute(site, "/etc/letsencrypt/live/haji.example.go.id/fullchain.pem", str(cert[0]), 1)
    site = substitute(site, "/etc/letsencrypt/live/haji.example.go.id/privkey.pem", str(cert[1]), 1)
    site = substitute(site, "server_name haji.example.go.id;", f"server_name {DOMAIN};", 2)
    site = substitute(site, "listen 80;", f"listen {http_port};", 1)
    site = substitute(site, "listen 443 ", f"listen {https_port} ", 1)
    site = substitute(site, "server 127.0.0.1:8081 ", f"server 127.0.0.1:{upstream[0]} ", 1)
    site = substitute(site, "server 127.0.0.1:8082 ", f"server 127.0.0.1:{upstream[1]} ", 1)
    return site


class Nginx:
    """nginx in the foreground (`daemon off`), its prefix a folder of the test."""

    def __init__(self, folder: Path, site: str) -> None:
        self.folder = folder
        (folder / "logs").mkdir(parents=True)
        (folder / "sites-enabled").mkdir()
        (folder / "sites-enabled" / "hajibot").write_text(site, encoding="utf-8")
        user = "user root;\n" if os.geteuid() == 0 else ""  # as root, workers must read the test's folder
        self.conf = folder / "nginx.conf"
        self.conf.write_text(
            f"{user}worker_processes 1;\npid {folder}/nginx.pid;\nerror_log {folder}/logs/error.log;\n"
            "events { worker_connections 256; }\n"
            "http {\n"
            f"    access_log {folder}/logs/access.log;\n"
            f"    client_body_temp_path {folder}/body; proxy_temp_path {folder}/proxy;\n"
            f"    fastcgi_temp_path {folder}/fastcgi; uwsgi_temp_path {folder}/uwsgi; scgi_temp_path {folder}/scgi;\n"
            f"    include {folder}/sites-enabled/*;\n"
            "}\n", encoding="utf-8")
        self.proc: subprocess.Popen[bytes] | None = None

    def check(self) -> subprocess.CompletedProcess[str]:
        """`nginx -t`, as the guide runs it before reloading."""
        return subprocess.run([NGINX, "-t", "-p", str(self.folder), "-c", str(self.conf)], capture_output=True,
                              text=True, timeout=30)

    def start(self, ports: list[int]) -> None:
        self.proc = subprocess.Popen([NGINX, "-p", str(self.folder), "-c", str(self.conf), "-g", "daemon off;"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.proc.stderr.read().decode() if self.proc.stderr else ""
            if all(_listening(port) for port in ports):
                return
            time.sleep(0.1)
        raise AssertionError(f"nginx did not listen: {(self.folder / 'logs' / 'error.log').read_text()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def _listening(port: int) -> bool:
    try:
        httpx.get(f"http://127.0.0.1:{port}/", timeout=1)  # any answer (even TLS refusing plain HTTP) will do
        return True
    except httpx.ConnectError:
        return False
    except httpx.HTTPError:
        return True


@pytest.fixture
def nginx_dir(tmp_path: Path) -> Iterator[list[Nginx]]:
    started: list[Nginx] = []
    yield started
    for server in started:
        server.stop()


def served_by(worker: Worker) -> int:
    """POSTs to /webchat/messages this worker answered (its own /metrics, with the bearer token)."""
    text = httpx.get(f"{worker.url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=10).text
    pattern = re.compile(r'^hajibot_http_requests_total\{[^}]*route="/webchat/messages"[^}]*\} ([0-9.e+]+)$', re.M)
    return int(sum(float(m) for m in pattern.findall(text)))


def inbound_requesters(database_url: str) -> set[str | None]:
    async def query() -> set[str | None]:
        engine = create_async_engine(database_url)
        try:
            async with engine.connect() as conn:
                rows = await conn.execute(select(Message.requester).where(Message.direction == "in",
                                                                          Message.channel == "webchat"))
                return {row[0] for row in rows}
        finally:
            await engine.dispose()
    return asyncio.run(query())


def test_two_workers_behind_the_sample_nginx_config(tmp_path: Path, database_url: str, nlu_cache_dir: Path,
                                                     workers: list[Worker], nginx_dir: list[Nginx]) -> None:
    # §2-§5: config in etc (state under var/lib, the proxy trusted as §6 says), init, two workers
    config = etc_config(tmp_path, nlu_cache_dir, {"security": {"trusted_proxies": ["127.0.0.1"]}})
    elsewhere = tmp_path / "opt"
    elsewhere.mkdir()
    cmd, env = cli_command(None)
    env.update({"HAJIBOT_DATABASE_URL": database_url, "HAJIBOT_SESSION_KEY": SESSION_KEY,
                "HAJIBOT_METRICS_TOKEN": METRICS_TOKEN})
    init = run(cmd, env, elsewhere, "--config", str(config), "init")
    assert init.returncode == 0, init.stderr
    for _ in range(2):
        workers.append(Worker(cmd, env, elsewhere, config))
    for worker in workers:
        worker.wait_ready()

    # §6: the sample site, `nginx -t`, then nginx serving
    http_port, https_port = free_port(), free_port()
    cert = self_signed(tmp_path)
    nginx = Nginx(tmp_path / "nginx", office_site(http_port, https_port, [w.port for w in workers], cert))
    nginx_dir.append(nginx)
    checked = nginx.check()
    assert checked.returncode == 0, checked.stderr
    nginx.start([http_port, https_port])

    # HTTP answers with a redirect to HTTPS
    plain = httpx.get(f"http://127.0.0.1:{http_port}/webchat?x=1", headers={"Host": DOMAIN}, timeout=10)
    assert plain.status_code == 301 and plain.headers["location"] == f"https://{DOMAIN}/webchat?x=1"

    tls = ssl.create_default_context(cafile=str(cert[0]))
    transport = httpx.HTTPTransport(verify=tls, local_address=CLIENT_ADDRESS)
    site = f"https://127.0.0.1:{https_port}"
    with httpx.Client(transport=transport, base_url=site, timeout=60) as browser:
        # a pilgrim opens the web chat (session cookie over HTTPS) and writes; each message gets an answer
        page = browser.get("/webchat")
        assert page.status_code == 200 and "strict-transport-security" in page.headers
        assert "secure" in page.headers["set-cookie"].lower()
        # a forged X-Forwarded-For: nginx appends the real address, the workers believe only that hop
        forged = {"X-Forwarded-For": "203.0.113.9"}
        questions = ["assalamualaikum", "berapa biaya pelunasan haji tahun ini?", "kantor kemenag buka jam berapa?",
                     "alamat kantornya dimana?", "syarat pembatalan haji apa saja?", "terima kasih"]
        for n, text in enumerate(questions):
            reply = browser.post("/webchat/messages", json={"text": text, "message_id": f"nginx-{n}"}, headers=forged)
            assert reply.status_code == 200, reply.text
            assert reply.json()["messages"], text
            time.sleep(0.25)  # a person types; stays inside the sample's web chat rate limit (5 r/s, burst 20)

        # the document limit: one document at dialogue.max_upload_bytes (10 MB, ~13.4 MB as base64 JSON) passes
        # nginx's client_max_body_size 32m and is answered; a 20 MB one passes nginx too and gets hajibot's own
        # polite refusal (JSON, in Indonesian), not nginx's 413 page
        limit = 10 * 1024 * 1024
        for size, status in ((limit, 200), (20 * 1024 * 1024, 413)):
            body = {"text": "", "message_id": f"nginx-doc-{size}",
                    "attachments": [{"filename": "ktp.jpg", "content_type": "image/jpeg",
                                     "data_base64": "A" * (4 * -(-size // 3))}]}
            answer = browser.post("/webchat/messages", json=body)
            assert answer.status_code == status, answer.text[:300]
            assert answer.headers["content-type"].startswith("application/json"), answer.text[:300]
            if status == 413:
                assert "MB" in answer.json()["error"]

        # internal routes stay closed from outside
        assert browser.get("/metrics").status_code == 403
        assert browser.post("/model/parse", json={"text": "halo"}).status_code == 403

    # least_conn over idle workers takes turns: both answered the pilgrim
    counts = [served_by(worker) for worker in workers]
    assert all(count >= 2 for count in counts) and sum(counts) == len(questions) + 2, counts

    # the stored requester is the pilgrim's address (what nginx appended), not the forged one nor nginx's
    keys = RequesterKeys(["127.0.0.1"], SESSION_KEY)
    assert inbound_requesters(database_url) == {keys.key(ipaddress.ip_address(CLIENT_ADDRESS))}
