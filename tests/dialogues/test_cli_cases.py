"""`hajibot cases list/show` on a case submitted through the engine."""
from __future__ import annotations

import asyncio
from pathlib import Path

from click.testing import CliRunner

from dialogues.engine import DialogueEngine
from dialogues.settings import DialogueSettings
from storage.db import Database
from storage.files import FileStore
from storage.migrate import upgrade
from storage.models import Pilgrim
from tests.conftest import write_config
from tests.dialogues.conftest import OFFICE, PILGRIMS, ROOT, Chat
from tests.dialogues.test_general import submit_case


def test_cases_list_and_show(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    files_dir = tmp_path / "files"

    async def setup() -> None:
        await asyncio.to_thread(upgrade, url)
        db = Database(url)
        async with db.session() as s, s.begin():
            for p in PILGRIMS:
                s.add(Pilgrim(**p))
        chat = Chat(db, DialogueEngine.load(DialogueSettings(), OFFICE, ROOT), FileStore(files_dir))
        await submit_case(chat)
        await db.dispose()

    asyncio.run(setup())
    config = write_config(tmp_path, {"storage": {"files_dir": str(files_dir)}})
    from bot.cli import _register, cli

    _register()
    runner = CliRunner()
    env = {"HAJIBOT_DATABASE_URL": url}
    result = runner.invoke(cli, ["--config", str(config), "cases", "list"], env=env)
    assert result.exit_code == 0, result.output
    assert "PBT-2026-00001" in result.output and "pembatalan" in result.output and "meninggal" in result.output
    result = runner.invoke(cli, ["--config", str(config), "cases", "show", "pbt-2026-00001"], env=env)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Tanggal wafat" in out and "2025-08-14" in out and "Nomor rekening" in out and "7123456789" in out
    assert "surat_permohonan" in out and "image/jpeg" in out and "sha256=" in out
    assert "case_created" in out
    result = runner.invoke(cli, ["--config", str(config), "cases", "show", "PBT-2026-09999"], env=env)
    assert result.exit_code == 1
