"""Retention (closed cases' documents, old transcripts) with audit entries; privacy export/erase CLI."""
from __future__ import annotations

import asyncio
import io
import json
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from bot.config import Settings
from storage.crypto import generate_key
from storage.db import Database
from storage.files import FileStore
from storage.models import AuditLog, Case, CaseDocument, Conversation, Message, Pilgrim
from storage.retention import apply_retention

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
PDF_A = b"%PDF-1.4 akta kematian " + b"a" * 200
PDF_B = b"%PDF-1.4 ktp " + b"b" * 200
PDF_C = b"%PDF-1.4 kk " + b"c" * 200


async def make_world(db: Database, files: FileStore) -> dict[str, Any]:
    """Two chats: Siti's closed case (closed 400 days ago) and Budi's open case; old and new messages."""
    ids: dict[str, Any] = {}
    async with db.session() as session:
        siti = Conversation(channel="whatsapp", channel_user_id="whatsapp:+6281234567890", display_name="Siti",
                            state={"flow": "pembatalan"}, last_inbound_at=NOW - timedelta(days=800))
        budi = Conversation(channel="telegram", channel_user_id="5550001", display_name="Budi", state={},
                            last_inbound_at=NOW - timedelta(days=1))
        session.add_all([siti, budi])
        await session.flush()
        a, b, c = files.put_sync(PDF_A, "akta.pdf"), files.put_sync(PDF_B, "ktp.pdf"), files.put_sync(PDF_C, "kk.pdf")
        old = NOW - timedelta(days=800)
        m1 = Message(conversation_id=siti.id, channel="whatsapp", direction="in", text="ini akta", status="processed",
                     attachments=[a.to_json()], created_at=old)
        session.add(m1)
        await session.flush()
        session.add(Message(conversation_id=siti.id, channel="whatsapp", direction="out", text="terima kasih",
                            status="sent", reply_to_id=m1.id, created_at=old))
        session.add(Message(conversation_id=siti.id, channel="whatsapp", direction="in", text="ktp saya",
                            status="processed", attachments=[b.to_json()], created_at=NOW - timedelta(days=10)))
        session.add(Message(conversation_id=budi.id, channel="telegram", direction="in", text="kk saya",
                            status="processed", attachments=[c.to_json()], created_at=NOW - timedelta(days=2)))
        session.add(Pilgrim(nomor_porsi="0312345678", nama="SITI AMINAH", nik="3175064512600001",
                            tanggal_lahir=datetime(1960, 6, 5).date(), jenis_kelamin="P", kab_kota="Bukittinggi",
                            provinsi="Sumatera Barat", status="menunggu"))
        closed = Case(ticket="PBT-2025-00001", service="pembatalan", status="selesai", conversation_id=siti.id,
                      nomor_porsi="0312345678", applicant_name="Siti", closed_at=NOW - timedelta(days=400))
        open_ = Case(ticket="PBT-2026-00002", service="pembatalan", status="submitted", conversation_id=budi.id,
                     applicant_name="Budi")
        session.add_all([closed, open_])
        await session.flush()
        for case, stored, key in ((closed, a, "akta_kematian"), (closed, b, "ktp"), (open_, c, "kk")):
            session.add(CaseDocument(case_id=case.id, conversation_id=case.conversation_id, item_key=key,
                                     sha256=stored.sha256, content_type="application/pdf", size=stored.size))
        await session.commit()
        ids.update(siti=siti.id, budi=budi.id, closed=closed.id, open=open_.id, a=a.sha256, b=b.sha256, c=c.sha256)
    return ids


@pytest.fixture
async def world(settings: Settings) -> Any:
    db = Database(settings.database_url)
    files = FileStore(settings.path(settings.config.storage.files_dir), generate_key())
    ids = await make_world(db, files)
    yield db, files, ids
    await db.dispose()


async def test_retention_deletes_closed_case_documents_and_old_messages(world: Any) -> None:
    db, files, ids = world
    report = await apply_retention(db, files, documents_days=365, messages_days=730, now=NOW)
    assert report.documents_deleted == 2 and report.cases == 1 and report.messages_deleted == 2
    async with db.session() as session:
        docs = (await session.execute(select(CaseDocument))).scalars().all()
        assert [d.case_id for d in docs] == [ids["open"]]
        siti_msgs = (await session.execute(select(Message).where(Message.conversation_id == ids["siti"]))).scalars().all()
        assert [m.text for m in siti_msgs] == ["ktp saya"]
        assert siti_msgs[0].attachments == [{"filename": "ktp.pdf", "deleted": "retention"}]
        siti = await session.get(Conversation, ids["siti"])
        assert siti.state == {} and siti.display_name is None
        audit = (await session.execute(select(AuditLog).order_by(AuditLog.id))).scalars().all()
        actions = [(a.action, a.case_id) for a in audit]
        assert ("retention.documents_deleted", ids["closed"]) in actions
        assert any(a == "retention.messages_deleted" for a, _ in actions)
    assert not files.exists(ids["a"]) and not files.exists(ids["b"])
    assert files.read_sync(ids["c"]) == PDF_C  # the open case keeps its document
    again = await apply_retention(db, files, documents_days=365, messages_days=730, now=NOW)
    assert again.documents_deleted == 0 and again.messages_deleted == 0


async def test_retention_keeps_files_still_referenced_elsewhere(world: Any) -> None:
    db, files, ids = world
    async with db.session() as session:  # Budi sent the same bytes as Siti's akta
        session.add(Message(conversation_id=ids["budi"], channel="telegram", direction="in", text="x",
                            status="processed", attachments=[{"sha256": ids["a"], "size": 1,
                                                              "content_type": "application/pdf"}]))
        await session.commit()
    await apply_retention(db, files, documents_days=365, messages_days=0, now=NOW)
    assert files.exists(ids["a"]) and not files.exists(ids["b"])


async def test_retention_job_runs_once_per_interval(demo_services: Any) -> None:
    from bot.ops import run_retention_once

    assert await run_retention_once(demo_services) is not None
    assert await run_retention_once(demo_services) is None  # another process / same interval: skipped
    assert await run_retention_once(demo_services, force=True) is not None


def run_cli(settings: Settings, *args: str) -> Any:
    from bot.cli import _register, cli

    _register()
    config = settings.base_dir / "config.yml"
    env = {"HAJIBOT_DATABASE_URL": settings.database_url, "HAJIBOT_FILES_KEY": settings.secrets.files_key or ""}
    return CliRunner().invoke(cli, ["--config", str(config), "privacy", *args], env=env, catch_exceptions=False)


@pytest.fixture
def cli_world(make_settings: Any) -> tuple[Settings, dict[str, Any]]:
    settings = make_settings(env={"HAJIBOT_FILES_KEY": generate_key()})

    async def build() -> dict[str, Any]:
        db = Database(settings.database_url)
        try:
            return await make_world(db, FileStore(settings.path(settings.config.storage.files_dir),
                                                  settings.secrets.files_key))
        finally:
            await db.dispose()

    return settings, asyncio.run(build())


@pytest.mark.parametrize("who", ["whatsapp:whatsapp:+6281234567890", "+62 812-3456-7890", "081234567890",
                                 "0312345678", "3175064512600001"])
def test_privacy_export_finds_the_subject(cli_world: Any, tmp_path: Path, who: str) -> None:
    settings, ids = cli_world
    out = tmp_path / "export.zip"
    result = run_cli(settings, "export", who, "-o", str(out))
    assert result.exit_code == 0, result.output
    archive = zipfile.ZipFile(io.BytesIO(out.read_bytes()))
    data = json.loads(archive.read("data.json"))
    assert [c["id"] for c in data["conversations"]] == [ids["siti"]]
    assert {m["text"] for m in data["messages"]} == {"ini akta", "terima kasih", "ktp saya"}
    assert [c["ticket"] for c in data["cases"]] == ["PBT-2025-00001"]
    assert archive.read(f"documents/{ids['a']}") == PDF_A  # decrypted
    if who.isdigit() and len(who) in (10, 16):
        assert data["pilgrim"]["nama"] == "SITI AMINAH"


def test_privacy_erase(cli_world: Any) -> None:
    settings, ids = cli_world
    result = run_cli(settings, "erase", "whatsapp:whatsapp:+6281234567890", "--yes")
    assert result.exit_code == 0, result.output
    assert "erased: 1 conversations, 3 messages, 2 documents" in result.output

    async def check() -> None:
        db = Database(settings.database_url)
        files = FileStore(settings.path(settings.config.storage.files_dir), settings.secrets.files_key)
        try:
            async with db.session() as session:
                siti = await session.get(Conversation, ids["siti"])
                assert siti.channel_user_id.startswith("erased-") and siti.display_name is None
                assert (await session.execute(select(func.count(Message.id)).where(
                    Message.conversation_id == ids["siti"]))).scalar_one() == 0
                case = await session.get(Case, ids["closed"])
                assert case.applicant_name is None and case.nomor_porsi is None and case.ticket == "PBT-2025-00001"
                assert (await session.execute(select(func.count(AuditLog.id)).where(
                    AuditLog.action == "privacy.erased"))).scalar_one() == 2
                budi = (await session.execute(select(func.count(Message.id)).where(
                    Message.conversation_id == ids["budi"]))).scalar_one()
                assert budi == 1
            assert not files.exists(ids["a"]) and not files.exists(ids["b"]) and files.exists(ids["c"])
        finally:
            await db.dispose()

    asyncio.run(check())
    assert run_cli(settings, "erase", "whatsapp:whatsapp:+6281234567890", "--yes").exit_code == 1


def test_unknown_subject(cli_world: Any) -> None:
    settings, _ = cli_world
    result = run_cli(settings, "export", "telegram:nobody")
    assert result.exit_code == 1 and "nobody found" in result.output


def test_keygen() -> None:
    from bot.cli import _register, cli

    _register()
    result = CliRunner().invoke(cli, ["privacy", "keygen"])
    assert result.exit_code == 0 and len(result.output.strip()) == 44
