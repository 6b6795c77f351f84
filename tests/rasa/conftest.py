"""Fixtures for tests against a real Rasa server (venv + model cached under ~/.cache/hajibot)."""
from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nlu.settings import NluSettings

REPO = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("HAJIBOT_RASA_CACHE", "~/.cache/hajibot")).expanduser()


def _log(msg: str) -> None:
    print(f"[rasa-test] {msg}", flush=True)


@pytest.fixture(scope="session")
def rasa_venv() -> Path:
    """Rasa's venv, created on first use (several minutes) and reused afterwards."""
    from nlu.rasa.env import venv_dir
    from nlu.rasa.setup import ensure_rasa

    settings = NluSettings()
    report = ensure_rasa(settings.rasa_python, venv_dir(settings.rasa_venv), settings.rasa_version, echo=_log)
    _log(f"setup: installed_now={report.installed_now} in {report.seconds:.0f} s")
    return report.venv


@pytest.fixture(scope="session")
def rasa_model(rasa_venv: Path) -> Path:
    """A model trained on the project's nlu/data (cached by data+config fingerprint)."""
    from nlu.rasa.project import train

    settings = NluSettings()
    data_dir = Path(os.environ.get("HAJIBOT_RASA_TEST_DATA", REPO / settings.data_dir))
    report = train(rasa_venv, data_dir, CACHE / "rasa-models", CACHE / "rasa-project", echo=_log)
    _log(f"train: trained_now={report.trained_now} in {report.seconds:.0f} s")
    return report.model


@pytest.fixture(scope="module")
def rasa_server(rasa_venv: Path, rasa_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    from nlu.rasa.server import start_server

    started = time.monotonic()
    log_path = tmp_path_factory.mktemp("rasa") / "server.log"
    server = start_server(rasa_venv, rasa_model, log_path=log_path,
                          timeout=NluSettings().rasa_start_timeout_seconds)
    _log(f"server up at {server.url} in {time.monotonic() - started:.0f} s")
    try:
        yield server
    finally:
        server.stop()
