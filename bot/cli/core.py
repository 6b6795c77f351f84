"""Core commands: init, serve, chat, import-porsi."""
from __future__ import annotations

import asyncio
import getpass
import logging
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from bot.cli.context import CliContext, pass_cli
from bot.config import Settings
from bot.core.privacy_log import setup_logging

if TYPE_CHECKING:
    from aiohttp import web

log = logging.getLogger("hajibot")


def fail(message: str, code: int = 1) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


@click.command("init")
@click.option("--demo", is_flag=True, help="Isi data contoh (registri porsi fiktif)")
@pass_cli
def init_cmd(cli: CliContext, demo: bool) -> None:
    """Buat atau perbarui basis data (migrasi Alembic); --demo mengisi data contoh."""
    settings = cli.settings
    setup_logging(settings.config.server.log_level)
    problem = data_problem(settings)
    if problem:
        fail(problem, code=2)
    asyncio.run(_init(settings, demo))


def data_problem(settings: Settings) -> str | None:
    """Why the shipped data (flows, responses, rules, NLU data) cannot be used, in one line naming the file or
    folder; None when the dialogue files load and validate."""
    from dialogues.engine import DialogueEngine
    from dialogues.errors import DialogueConfigError

    problem = settings.data_problem()
    if problem:
        return problem
    try:
        DialogueEngine.load(settings.config.dialogue, settings.config.office, settings.data_dir)
    except DialogueConfigError as exc:
        return str(exc)
    return None


async def _init(settings: Settings, demo: bool) -> None:
    from storage.db import Database
    from storage.migrate import upgrade

    url = settings.database_url
    try:
        await asyncio.to_thread(upgrade, url)
    except Exception as exc:
        fail(f"database migration failed ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})")
    click.echo("database is up to date")
    files_dir = settings.path(settings.config.storage.files_dir)
    try:
        files_dir.mkdir(parents=True, exist_ok=True)
        _ensure_files_key(settings)
    except OSError as exc:
        fail(f"{exc.filename or files_dir}: {exc.strerror or exc} (storage.files_dir / storage.files_key_file)", code=2)
    if demo:
        from storage.demo import seed_demo

        db = Database(url)
        try:
            async with db.session() as session:
                report = await seed_demo(session)
            for seeder in _demo_seeders():
                await seeder(settings, db)
        finally:
            await db.dispose()
        click.echo(f"demo data loaded: {report.imported} pilgrims")


def _ensure_files_key(settings: Settings) -> None:
    """Documents are encrypted at rest by default: without HAJIBOT_FILES_KEY, create the key file
    (`storage.files_key_file`, mode 0600) once."""
    from storage.crypto import write_key_file

    if settings.secrets.files_key:
        return
    path = settings.files_key_path
    if write_key_file(path):
        click.echo(f"created the document encryption key {path} (mode 0600): back it up, documents cannot be "
                   f"read without it")
    elif path.stat().st_mode & 0o077:
        click.echo(f"warning: {path} is readable by other users: chmod 600 {path}", err=True)


def _demo_seeders() -> list[Callable[[Settings, Any], Awaitable[None]]]:
    """Other rooms' demo data, each `async (settings, db) -> None`: a back-office admin and a sample case."""
    from bot.backoffice.demo import seed_demo_backoffice

    return [seed_demo_backoffice]


@click.command("serve")
@click.option("--host", default=None, help="Alamat dengar (bawaan dari config)")
@click.option("--port", type=int, default=None, help="Port (bawaan dari config)")
@click.option("--telegram-polling", is_flag=True, help="Telegram lewat long polling (tanpa URL publik/webhook)")
@pass_cli
def serve_cmd(cli: CliContext, host: str | None, port: int | None, telegram_polling: bool) -> None:
    """Jalankan layanan web (web chat, webhook kanal, back office)."""
    settings = cli.settings
    setup_logging(settings.config.server.log_level, settings.config.server.log_json)
    problem = settings.serve_problem() or settings.data_problem()
    if problem:
        fail(problem, code=2)
    from aiohttp import web

    host = host or settings.config.server.host
    port = port or settings.config.server.port
    # The app is built inside run_app's event loop, so pools and workers belong to the loop that serves.
    web.run_app(_build_app(settings, telegram_polling), host=host, port=port, access_log=None,
                print=lambda _: click.echo(f"serving on http://{host}:{port}/webchat"))


async def _build_app(settings: Settings, telegram_polling: bool = False) -> web.Application:
    from bot.app import create_app, freeze_startup_heap
    from bot.services import StartupError, build_services
    from nlu.faq import FaqError
    from nlu.rasa_yaml import NluDataError

    try:
        services = await build_services(settings)
    except (StartupError, NluDataError, FaqError) as exc:
        fail(str(exc), code=2)
    except OSError as exc:  # e.g. the NLU cache or the document store not writable
        fail(f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": "), code=2)
    if telegram_polling:
        from bot.cli.telegram import enable_polling

        enable_polling(services)
    app = create_app(services, warm_workers=True)
    freeze_startup_heap()
    return app


@click.command("chat")
@click.option("--user", "user_id", default=None, help="ID pengguna konsol (bawaan: nama pengguna OS)")
@pass_cli
def chat_cmd(cli: CliContext, user_id: str | None) -> None:
    """Mengobrol dengan bot di terminal."""
    settings = cli.settings
    setup_logging("WARNING")
    asyncio.run(_chat(settings, user_id or getpass.getuser()))


async def _chat(settings: Settings, user_id: str) -> None:
    from bot.channels.console import run_console
    from bot.services import StartupError, build_services

    try:
        services = await build_services(settings, channel_names=("webchat",))
    except StartupError as exc:
        fail(str(exc), code=2)
    try:
        await run_console(services.pipeline, user_id)
    finally:
        await services.close()


@click.command("import-porsi")
@click.argument("csv_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--strict", is_flag=True, help="Tidak mengimpor apa pun bila ada baris yang salah")
@click.option("--preview", is_flag=True,
              help="Hanya periksa: jumlah perubahan per jenis dan kabar pribadi yang akan dikirim; tidak menyimpan "
                   "dan tidak mengirim apa pun")
@click.option("--send", is_flag=True, help="Setelah impor, kirim kabar pribadi (jumlahnya ditampilkan dan ditanyakan)")
@click.option("--yes", is_flag=True, help="Dengan --send: tanpa pertanyaan konfirmasi")
@pass_cli
def import_porsi_cmd(cli: CliContext, csv_file: Path, strict: bool, preview: bool, send: bool, yes: bool) -> None:
    """Impor registri nomor porsi dari CSV (upsert berdasarkan nomor_porsi)."""
    settings = cli.settings
    setup_logging(settings.config.server.log_level)
    if preview and send:
        fail("--preview and --send exclude each other", code=2)
    try:
        data = csv_file.read_bytes()
    except OSError as exc:
        fail(f"cannot read {csv_file}: {exc.strerror}")
    code, import_id, updates = asyncio.run(_import(settings, data, strict, preview))
    if send and import_id is not None and updates:
        from bot.cli.updates import confirm_and_send

        confirm_and_send(cli, import_id, yes)
    elif import_id is not None and updates:
        click.echo(f"personal updates wait for confirmation: hajibot updates send {import_id} "
                   f"(or the back office, /backoffice/updates/{import_id})")
    sys.exit(code)


async def _import(settings: Settings, data: bytes, strict: bool, preview: bool = False
                  ) -> tuple[int, int | None, int]:
    """Returns (exit code, import id, personal updates recorded)."""
    from bot.cli.updates import summary_lines
    from bot.services import StartupError, check_database
    from bot.updates.service import summarize
    from storage.db import Database
    from storage.registry_import import ImportReport, RegistryFileError, import_registry

    lines: list[str] = []

    async def count_updates(session: Any, report: ImportReport) -> None:
        if report.import_id is not None and (report.changes or preview):
            title = "what this import would change (not saved):" if preview else None
            lines.extend(summary_lines(await summarize(session, report.import_id, settings.config.broadcast), title))

    db = Database(settings.database_url)
    try:
        try:
            await check_database(db)
        except StartupError as exc:
            fail(str(exc), code=2)
        async with db.session() as session:
            try:
                report = await import_registry(session, data, strict=strict, actor="cli", source="cli",
                                               dry_run=preview, before_commit=count_updates)
            except RegistryFileError as exc:
                fail(str(exc))
    finally:
        await db.dispose()
    for error in report.errors[:200]:
        click.echo(f"line {error.line}: {error.reason}", err=True)
    if len(report.errors) > 200:
        click.echo(f"... and {len(report.errors) - 200} more bad rows", err=True)
    code = 0 if not report.errors else 1
    if preview:
        click.echo(f"preview: {report.imported} rows would be imported ({len(report.errors)} bad rows); "
                   f"nothing was saved or sent")
        for line in lines:
            click.echo(line)
        return code, None, 0
    if report.committed:
        click.echo(f"imported {report.imported} rows ({len(report.errors)} bad rows skipped)")
        for line in lines:
            click.echo(line)
        return code, report.import_id, report.updates
    click.echo(f"nothing imported: {len(report.errors)} bad rows (--strict)")
    return 1, None, 0


COMMANDS: list[click.Command] = [init_cmd, serve_cmd, chat_cmd, import_porsi_cmd]
