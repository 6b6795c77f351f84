"""Create Rasa's own virtualenv (Python 3.8-3.10) and install rasa into it, idempotently."""
from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from nlu.rasa.env import RASA_VERSION, rasa_env, venv_bin

Echo = Callable[[str], None]

# Build tools known to install rasa 3.6's sdist dependencies (e.g. mattermostwrapper) on 3.10.
BUILD_PINS = ("pip<24.1", "setuptools<71", "wheel")


class RasaSetupError(RuntimeError):
    """The venv could not be created or rasa could not be installed; message says why."""


@dataclass(frozen=True)
class SetupReport:
    venv: Path
    version: str
    installed_now: bool
    seconds: float


def installed_version(venv: Path) -> str | None:
    """Version of rasa in `venv`, or None when the venv or rasa is missing or broken."""
    python = venv_bin(venv, "python")
    if not python.exists():
        return None
    code = "import importlib.metadata as m; print(m.version('rasa'))"
    proc = subprocess.run([str(python), "-c", code], capture_output=True, text=True,
                          env=rasa_env(venv), timeout=120)
    if proc.returncode != 0:
        return None
    return proc.stdout.strip() or None


def python_version(python: str) -> tuple[int, int]:
    proc = subprocess.run([python, "-c", "import sys; print(*sys.version_info[:2])"],
                          capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise RasaSetupError(f"cannot run interpreter {python}: {proc.stderr.strip()[-300:]}")
    major, minor = proc.stdout.split()
    return int(major), int(minor)


def find_python(preferred: str) -> str:
    """The configured interpreter if it exists, else the first python3.10/3.9/3.8 on PATH."""
    if Path(preferred).expanduser().exists() or shutil.which(preferred):
        return str(Path(preferred).expanduser()) if Path(preferred).expanduser().exists() else preferred
    for name in ("python3.10", "python3.9", "python3.8"):
        found = shutil.which(name)
        if found:
            return found
    raise RasaSetupError(f"no Python 3.8-3.10 interpreter: {preferred} does not exist and none is on PATH "
                         "(set nlu.rasa_python or pass --python)")


def _run(cmd: list[str], venv: Path, echo: Echo, log_file: Path) -> None:
    echo("$ " + " ".join(cmd))
    with log_file.open("a", encoding="utf-8") as log:
        log.write("$ " + " ".join(cmd) + "\n")
        log.flush()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env=rasa_env(venv))
        assert proc.stdout is not None
        tail: list[str] = []
        for line in proc.stdout:
            log.write(line)
            tail = (tail + [line.rstrip()])[-40:]
            if line.startswith(("Collecting", "Successfully", "ERROR", "Installing collected")):
                echo("  " + line.rstrip()[:160])
        if proc.wait() != 0:
            raise RasaSetupError(f"command failed ({proc.returncode}): {' '.join(cmd)}\n"
                                 + "\n".join(tail) + f"\n(full log: {log_file})")


def ensure_rasa(python: str, venv: Path, version: str = RASA_VERSION, echo: Echo = print,
                force: bool = False) -> SetupReport:
    """Create `venv` with `python` and install rasa==version; skip when already there."""
    started = time.monotonic()
    venv = venv.expanduser()
    current = installed_version(venv)
    if current == version and not force:
        echo(f"rasa {version} already installed in {venv}")
        return SetupReport(venv, version, False, time.monotonic() - started)
    python = find_python(python)
    major, minor = python_version(python)
    if not (3, 8) <= (major, minor) <= (3, 10):
        raise RasaSetupError(f"rasa {version} needs Python 3.8-3.10, {python} is {major}.{minor}")
    venv.parent.mkdir(parents=True, exist_ok=True)
    log_file = venv.parent / "rasa-setup.log"
    if not venv_bin(venv, "python").exists():
        echo(f"creating virtualenv {venv} with Python {major}.{minor}")
        _run([python, "-m", "venv", str(venv)], venv, echo, log_file)
    pip = [str(venv_bin(venv, "python")), "-m", "pip"]
    echo(f"installing rasa=={version} (first time takes a few minutes; log: {log_file})")
    _run(pip + ["install", "--upgrade", *BUILD_PINS], venv, echo, log_file)
    _run(pip + ["install", f"rasa=={version}"], venv, echo, log_file)
    got = installed_version(venv)
    if got != version:
        raise RasaSetupError(f"after install, rasa version in {venv} is {got!r}, expected {version}")
    _run([str(venv_bin(venv, "rasa")), "telemetry", "disable"], venv, echo, log_file)
    seconds = time.monotonic() - started
    echo(f"rasa {version} ready in {venv} ({seconds:.0f} s)")
    return SetupReport(venv, version, True, seconds)
