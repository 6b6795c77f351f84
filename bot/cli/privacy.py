"""`hajibot privacy ...`: data subject requests, retention, encryption of the document store.

USER is `CHANNEL:USER_ID` (e.g. `telegram:123456789`, `whatsapp:+6281234567890`, `webchat:abc`), a phone
number (their WhatsApp chat), a nomor porsi (10 digits) or a NIK (16 digits).
"""
from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import click

from bot.cli import CliContext, pass_cli
from bot.config import Settings
from bot.core.privacy_log import setup_logging


def _fail(message: str, code: int = 1) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


async def _open(settings: Settings) -> tuple[Any, Any]:
    from bot.services import StartupError, check_database
    from storage.db import Database

    db = Database(settings.database_url)
    try:
        await check_database(db)
        files = settings.file_store()
    except (StartupError, ValueError) as exc:
        await db.dispose()
        _fail(str(exc), code=2)
    return db, files


@click.group("privacy")
def privacy_group() -> None:
    """Permintaan subjek data (UU 27/2022), retensi, enkripsi dokumen."""


@privacy_group.command("export")
@click.argument("user")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="File ZIP (bawaan: privacy-export-<USER>.zip)")
@pass_cli
def export_cmd(cli: CliContext, user: str, output: Path | None) -> None:
    """Ekspor semua data seorang pengguna: ZIP berisi data.json dan dokumen."""
    settings = cli.settings
    setup_logging("WARNING")
    safe = "".join(c if c.isalnum() else "_" for c in user)[:40]
    output = output or Path(f"privacy-export-{safe}.zip")
    asyncio.run(_export(settings, user, output))


async def _export(settings: Settings, user: str, output: Path) -> None:
    from storage.models import AuditLog
    from storage.privacy import SubjectNotFound, export_subject, find_subject

    db, files = await _open(settings)
    try:
        try:
            subject = await find_subject(db, user)
        except SubjectNotFound as exc:
            _fail(str(exc))
        data = await export_subject(db, files, subject)
        output.write_bytes(data)
        output.chmod(0o600)
        async with db.session() as session:
            for conversation_id in subject.conversation_ids or [None]:
                session.add(AuditLog(actor="cli", action="privacy.exported", conversation_id=conversation_id,
                                     detail={"cases": subject.case_ids}))
            await session.commit()
    finally:
        await db.dispose()
    click.echo(f"exported {len(subject.conversation_ids)} conversations, {len(subject.case_ids)} cases "
               f"to {output} ({len(data)} bytes)")


@privacy_group.command("erase")
@click.argument("user")
@click.option("--yes", is_flag=True, help="Tanpa konfirmasi")
@pass_cli
def erase_cmd(cli: CliContext, user: str, yes: bool) -> None:
    """Hapus percakapan, pesan dan dokumen seorang pengguna; kasus dianonimkan."""
    settings = cli.settings
    setup_logging("WARNING")
    asyncio.run(_erase(settings, user, yes))


async def _erase(settings: Settings, user: str, yes: bool) -> None:
    from storage.privacy import SubjectNotFound, erase_subject, find_subject

    db, files = await _open(settings)
    try:
        try:
            subject = await find_subject(db, user)
        except SubjectNotFound as exc:
            _fail(str(exc))
        if not yes and not click.confirm(
                f"erase {len(subject.conversation_ids)} conversations and documents of {len(subject.case_ids)} "
                f"cases? This cannot be undone", default=False):
            _fail("cancelled")
        report = await erase_subject(db, files, subject)
    finally:
        await db.dispose()
    click.echo(f"erased: {report.conversations} conversations, {report.messages} messages, "
               f"{report.documents} documents ({report.files_deleted} files); "
               f"{report.cases_anonymised} cases anonymised")


@privacy_group.command("retention")
@click.option("--force", is_flag=True, help="Jalankan walau sudah berjalan dalam interval ini")
@pass_cli
def retention_cmd(cli: CliContext, force: bool) -> None:
    """Jalankan aturan retensi sekarang (dokumen kasus selesai, transkrip lama)."""
    settings = cli.settings
    setup_logging(settings.config.server.log_level)
    asyncio.run(_retention(settings, force))


async def _retention(settings: Settings, force: bool) -> None:
    from types import SimpleNamespace

    from bot.ops import run_retention_once

    db, files = await _open(settings)
    try:
        result = await run_retention_once(SimpleNamespace(settings=settings, db=db, files=files), force=force)
    finally:
        await db.dispose()
    if result is None:
        click.echo("retention: skipped (running in another process, or ran within the interval; use --force)")
    else:
        click.echo("retention: " + ", ".join(f"{k}={v}" for k, v in result.items()))


@privacy_group.command("keygen")
def keygen_cmd() -> None:
    """Buat kunci baru untuk HAJIBOT_FILES_KEY."""
    from storage.crypto import generate_key

    click.echo(generate_key())


@privacy_group.command("encrypt-files")
@click.option("--rekey", is_flag=True, help="Juga enkripsi ulang dokumen yang hanya terbuka dengan kunci lama")
@pass_cli
def encrypt_files_cmd(cli: CliContext, rekey: bool) -> None:
    """Enkripsi dokumen lama yang tersimpan tanpa enkripsi (perlu kunci: HAJIBOT_FILES_KEY atau file kunci)."""
    store = _keyed_store(cli.settings)
    click.echo(f"encrypted {store.encrypt_existing_sync(rekey=rekey)} files")


def _keyed_store(settings: Settings) -> Any:
    try:
        store = settings.file_store()
    except ValueError as exc:
        _fail(str(exc), code=2)
    if store.cipher is None:
        _fail(f"no document key: set HAJIBOT_FILES_KEY or run `hajibot init` (creates {settings.files_key_path})",
              code=2)
    return store


@privacy_group.command("rotate-key")
@pass_cli
def rotate_key_cmd(cli: CliContext) -> None:
    """Kunci dokumen baru: ditaruh di depan file kunci (kunci lama tetap untuk membaca), lalu semua dokumen
    dienkripsi ulang dengan kunci baru. Hanya untuk file kunci; untuk HAJIBOT_FILES_KEY lihat docs/deployment.md."""
    from storage.crypto import generate_key, write_key_file

    settings = cli.settings
    if settings.secrets.files_key:
        _fail("HAJIBOT_FILES_KEY is set: rotate by hand (docs/deployment.md, 'Document encryption')", code=2)
    old = settings.files_key()
    if not old:
        _fail(f"no key file {settings.files_key_path}: run `hajibot init` first", code=2)
    write_key_file(settings.files_key_path, f"{generate_key()},{old}", replace=True)
    store = _keyed_store(settings)
    click.echo(f"new key added to {settings.files_key_path}; re-encrypted {store.encrypt_existing_sync(rekey=True)} "
               f"files. Restart every worker, run `hajibot privacy encrypt-files --rekey` once more, then the old "
               f"keys (after the first comma) may be removed from the file.")


COMMANDS: list[click.Command] = [privacy_group]
