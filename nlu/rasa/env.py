"""Paths inside Rasa's virtualenv and the environment Rasa subprocesses run with."""
from __future__ import annotations

import os
from pathlib import Path

RASA_VERSION = "3.6.21"

OFFLINE_ENV: dict[str, str] = {
    # Rasa: no telemetry, no first-run prompt, quiet SQLAlchemy 1.4 warnings.
    "RASA_TELEMETRY_ENABLED": "false",
    "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
    # TensorFlow / hubs: nothing is ever fetched at run time.
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "TFHUB_OFFLINE": "1",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "NO_PROXY": "127.0.0.1,localhost",
    "PYTHONUNBUFFERED": "1",
}

# Variables of our own (3.11) interpreter that must not leak into Rasa's 3.10 one.
_LEAKY = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP", "__PYVENV_LAUNCHER__")


def venv_dir(configured: str | os.PathLike[str]) -> Path:
    """Expand ~ in the configured venv path."""
    return Path(configured).expanduser()


def venv_bin(venv: Path, name: str) -> Path:
    return venv / "bin" / name


def rasa_env(venv: Path, threads: int | None = None) -> dict[str, str]:
    """Environment for running `rasa` from `venv`: offline, telemetry off, bounded TF threads."""
    env = {k: v for k, v in os.environ.items() if k not in _LEAKY}
    env.update(OFFLINE_ENV)
    n = str(threads or os.cpu_count() or 2)
    env.setdefault("TF_INTRA_OP_PARALLELISM_THREADS", n)
    env.setdefault("TF_INTER_OP_PARALLELISM_THREADS", n)
    env["VIRTUAL_ENV"] = str(venv)
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env
