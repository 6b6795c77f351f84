"""Real `hajibot serve` processes for multi-process and fault tests, and a TCP proxy we can cut."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import REPO, write_config

HAJIBOT = str(REPO / ".venv" / "bin" / "hajibot")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_config(tmp: Path, nlu_cache_dir: Path, **ops: Any) -> Path:
    """A config file in `tmp` for test servers: fast sweeps, shared trained NLU model, own file store."""
    tmp.mkdir(parents=True, exist_ok=True)
    return write_config(tmp, {"nlu": {"cache_dir": str(nlu_cache_dir)},
                              "storage": {"files_dir": str(tmp / "files")},
                              "ops": {"sweep_seconds": 0.5, "stale_seconds": 1.0, **ops}})


SESSION_KEY = "test-session-key-shared-by-the-server-processes"


def chat_headers(user: str) -> dict[str, str]:
    """The web chat session cookie of `user`'s conversation on servers started here (they share the key)."""
    from bot.channels.webchat_session import COOKIE_NAME, sign_session

    return {"Cookie": f"{COOKIE_NAME}={sign_session(SESSION_KEY, user)}"}


class Server:
    """One `hajibot serve` subprocess on its own port."""

    def __init__(self, config: Path, database_url: str, name: str, env: dict[str, str] | None = None) -> None:
        self.config, self.database_url, self.name = config, database_url, name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = config.parent / f"{name}.log"
        self.env = env or {}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> "Server":
        env = {**os.environ, "HAJIBOT_DATABASE_URL": self.database_url, "HAJIBOT_SESSION_KEY": SESSION_KEY,
               **self.env}
        env.pop("HAJIBOT_CONFIG", None)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([HAJIBOT, "--config", str(self.config), "serve", "--port", str(self.port)],
                                         stdout=log, stderr=subprocess.STDOUT, env=env, cwd=str(REPO))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server {self.name} exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server {self.name} not ready: {self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        """SIGKILL: no clean-up, like a crashed worker."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


class TcpProxy:
    """A loopback TCP proxy (thread) between the app and PostgreSQL; `cut()` drops every connection and
    refuses new ones (like a database restart), `restore()` accepts again."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.open = False

    def start(self) -> "TcpProxy":
        self.restore()
        return self

    def restore(self) -> None:
        with self._lock:
            if self.open:
                return
            listener = socket.socket()
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", self.port))
            listener.listen(128)
            self._listener, self.open = listener, True
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        with self._lock:
            self.open = False
            if self._listener is not None:
                self._listener.close()
                self._listener = None
            for conn in self._conns:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                conn.close()
            self._conns.clear()

    def close(self) -> None:
        self.cut()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                if not self.open:
                    client.close()
                    upstream.close()
                    continue
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):  # shutdown wakes the other direction's thread blocked in recv()
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()
