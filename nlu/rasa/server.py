"""Run `rasa run --enable-api` from Rasa's venv as a subprocess and wait until it serves."""
from __future__ import annotations

import json
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from nlu.rasa.env import rasa_env, venv_bin


class RasaServerError(RuntimeError):
    """The server did not start or died; the message holds the tail of its log."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def serve_command(venv: Path, model: Path, port: int, host: str = "127.0.0.1") -> list[str]:
    """The `rasa run` command line: HTTP API only, bound to `host`."""
    return [str(venv_bin(venv, "rasa")), "run", "--enable-api", "-m", str(model),
            "--interface", host, "--port", str(port), "--response-timeout", "30"]


def status(url: str, timeout: float = 2.0) -> dict | None:
    """GET /status; None when unreachable or not JSON."""
    try:
        with urllib.request.urlopen(f"{url}/status", timeout=timeout) as resp:  # noqa: S310 (loopback)
            return json.loads(resp.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None


@dataclass
class RasaServer:
    """A running Rasa server process; use as a context manager or call stop()."""

    process: subprocess.Popen
    url: str
    log_path: Path
    _log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def wait_ready(self, timeout: float = 300.0) -> float:
        """Block until /status reports a loaded model; returns seconds waited."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.process.poll() is not None:
                raise RasaServerError(f"rasa exited with {self.process.returncode}:\n{self.log_tail()}")
            body = status(self.url)
            if isinstance(body, dict) and body.get("model_file"):
                return time.monotonic() - started
            time.sleep(0.5)
        self.stop()
        raise RasaServerError(f"rasa not ready after {timeout:.0f} s:\n{self.log_tail()}")

    def stop(self, timeout: float = 20.0) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> "RasaServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_server(venv: Path, model: Path, port: int | None = None, host: str = "127.0.0.1",
                 log_path: Path | None = None, wait: bool = True, timeout: float = 300.0) -> RasaServer:
    """Start Rasa serving `model` on host:port (a free port by default); wait until ready."""
    if not venv_bin(venv, "rasa").exists():
        raise RasaServerError(f"rasa not installed in {venv}: run `hajibot nlu rasa-setup` first")
    port = port or free_port(host)
    log_path = log_path or Path(tempfile.gettempdir()) / f"hajibot-rasa-server-{port}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = log_path.open("wb")
    process = subprocess.Popen(serve_command(venv, model.resolve(), port, host), cwd=model.parent,
                               env=rasa_env(venv), stdout=log, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL)
    server = RasaServer(process, f"http://{host}:{port}", log_path, log)
    if wait:
        try:
            server.wait_ready(timeout)
        except BaseException:
            server.stop()
            raise
    return server
