"""`hajibot import-porsi FILE --preview`, the import's summary, and `hajibot updates send / show / discard`."""
from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from bot.cli import cli
from storage.db import Database
from storage.models import Pilgrim
from tests.updates.conftest import BASE, changed, do_import, registry_csv, update_messages, verified_chat


@pytest.fixture
def run_cli(make_settings: Any, tmp_path: Path, database_url: str) -> Any:
    from bot.cli import _register

    make_settings()
    if "updates" not in cli.commands:
        _register()
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None) -> Any:
        return runner.invoke(cli, ["--config", str(tmp_path / "config.yml"), *args], input=input,
                             env={"HAJIBOT_DATABASE_URL": database_url}, catch_exceptions=False)

    return invoke


def seed(database_url: str) -> None:
    async def go() -> None:
        db = Database(database_url)
        await do_import(db, registry_csv(BASE))
        await verified_chat(db, "0300000001")
        await verified_chat(db, "0300000002", channel="telegram", user="222")
        await verified_chat(db, "0300000003")
        await db.dispose()

    asyncio.run(go())


def state(database_url: str) -> tuple[tuple[str, int], int]:
    async def go() -> tuple[tuple[str, int], int]:
        db = Database(database_url)
        async with db.session() as session:
            p1 = (await session.execute(select(Pilgrim).where(Pilgrim.nomor_porsi == "0300000001"))).scalar_one()
        messages = await update_messages(db)
        await db.dispose()
        return (p1.status, p1.estimasi_tahun), len(messages)

    return asyncio.run(go())


def test_preview_then_import_then_send(run_cli, database_url, tmp_path):
    seed(database_url)
    csv = tmp_path / "registri.csv"
    csv.write_bytes(registry_csv(changed(p1=("berhak lunas", 2026), p2=("menunggu", 2028), p3=("wafat", 2029))))

    preview = run_cli("import-porsi", str(csv), "--preview")
    assert preview.exit_code == 0, preview.output
    assert "nothing was saved or sent" in preview.output
    assert "changed pilgrims: estimasi:maju 2, status:berhak_lunas 1, status:wafat 1" in preview.output
    assert "personal updates: 2 chats would be told now (telegram 1, webchat 1)" in preview.output
    assert "skipped: 1 (pilgrim_status 1)" in preview.output
    assert state(database_url) == (("menunggu", 2031), 0)

    imported = run_cli("import-porsi", str(csv))
    assert imported.exit_code == 0, imported.output
    assert "imported 6 rows" in imported.output
    found = re.search(r"hajibot updates send (\d+)", imported.output)
    assert found, imported.output
    import_id = found.group(1)  # (PostgreSQL: the preview's rolled-back row used up an id)
    assert state(database_url) == (("berhak lunas", 2026), 0)

    refused = run_cli("updates", "send", import_id, input="n\n")
    assert refused.exit_code == 1 and "send personal updates to 2 chats?" in refused.output
    sent = run_cli("updates", "send", import_id, "--yes")
    assert sent.exit_code == 0, sent.output
    assert "confirmed: 2 updates go out" in sent.output
    shown = run_cli("updates", "show", import_id)
    assert f"import {import_id} (sending)" in shown.output and "waiting for their turn: 2" in shown.output
    assert "skipped: 1 (pilgrim_status 1)" in shown.output
    again = run_cli("import-porsi", str(csv))
    assert "personal updates wait" not in again.output
    listing = run_cli("updates", "list").output.splitlines()
    assert listing[0].split("\t")[1] == "none" and listing[1].split("\t")[:2] == [import_id, "sending"]


def test_import_with_send_asks_and_discard(run_cli, database_url, tmp_path):
    seed(database_url)
    csv = tmp_path / "registri.csv"
    csv.write_bytes(registry_csv(changed(p1=("cadangan", 2031))))
    result = run_cli("import-porsi", str(csv), "--send", "--yes")
    assert result.exit_code == 0, result.output
    assert "personal updates: 1 chats would be told now (webchat 1)" in result.output
    assert "confirmed: 1 updates go out" in result.output
    csv.write_bytes(registry_csv(changed(p1=("berhak lunas", 2026))))
    import_id = re.search(r"hajibot updates send (\d+)", run_cli("import-porsi", str(csv)).output).group(1)
    assert run_cli("updates", "discard", import_id).exit_code == 0
    assert f"import {import_id} (discarded)" in run_cli("updates", "show", import_id).output
    assert run_cli("updates", "send", import_id, "--yes").exit_code == 1
