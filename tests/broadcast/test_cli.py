"""`hajibot broadcast ...` through click's runner on a migrated test database."""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.cli.broadcast import format_eta, progress_line
from bot.broadcast.service import Progress
from storage.db import Database
from tests.broadcast.conftest import add_chats


@pytest.fixture
def run_cli(make_settings: Any, tmp_path: Path, database_url: str) -> Any:
    from bot.cli import _register

    make_settings()  # writes tmp_path/config.yml
    if "broadcast" not in cli.commands:
        _register()
    runner = CliRunner()

    def invoke(*args: str) -> Any:
        result = runner.invoke(cli, ["--config", str(tmp_path / "config.yml"), "broadcast", *args],
                               env={"HAJIBOT_DATABASE_URL": database_url}, catch_exceptions=False)
        return result

    return invoke


def seed(database_url: str) -> None:
    async def go() -> None:
        db = Database(database_url)
        await add_chats(db, 3, channel="webchat", linked=True, estimasi=2022)
        await add_chats(db, 2, channel="webchat", start=10, linked=True, estimasi=2030)
        await db.dispose()

    asyncio.run(go())


def test_cli_lifecycle(run_cli, database_url):
    seed(database_url)
    assert "berangkat_kuota_penuh" in run_cli("templates").output
    assert run_cli("count", "--estimasi-from", "2022", "--estimasi-to", "2022").output.strip() == "total=3 webchat=3"
    created = run_cli("create", "--template", "tidak_berangkat", "--audience", "linked", "--estimasi-to", "2025")
    assert created.output.strip() == "broadcast 1 created: draft"
    bad = run_cli("create", "--title", "x", "--text", "Halo {alamat}")
    assert bad.exit_code == 1 and "alamat" in bad.output
    unconfirmed = run_cli("submit", "1", "--at", "2030-01-01 08:00")
    assert unconfirmed.exit_code == 1 and "will be sent to 3 recipients" in unconfirmed.output
    assert "scheduled" in run_cli("submit", "1", "--at", "2030-01-01 08:00", "--yes").output
    assert "paused" in run_cli("pause", "1").output
    assert "scheduled" in run_cli("resume", "1").output
    listing = run_cli("list").output
    assert "Tahun 2027 tidak ada keberangkatan" in listing and "scheduled" in listing
    shown = run_cli("show", "1").output
    assert '"estimasi_to": 2025' in shown and "Nomor porsi {nomor_porsi_masked}" in shown
    assert "cancelled" in run_cli("cancel", "1").output
    again = run_cli("cancel", "1")
    assert again.exit_code == 1
    assert run_cli("failed", "1").output.startswith("delivery_id,conversation_id")
    assert '"status": "cancelled"' in run_cli("show", "1", "--json").output


def test_progress_line():
    p = Progress(1, "running", 1000, True, {"sent": 240, "failed": 10, "pending": 750}, {}, 25.0, 30.0)
    assert progress_line(p, width=10) == "[##........] 250/1000  25.0%     25.0/s  ETA 0m30s  running"
    assert format_eta(None) == "-" and format_eta(7260) == "2h01m"
