"""`hajibot staff ...`: staff accounts and integration API tokens."""
from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click

from bot.cli.context import CliContext, pass_cli
from bot.config import Settings

T = TypeVar("T")


def _fail(message: str) -> None:
    """Print an error and exit 1."""
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


async def _with_session(settings: Settings, work: Callable[[Any], Awaitable[T]]) -> T:
    """Run `work(session)` on the configured database."""
    from storage.db import Database

    db = Database(settings.database_url)
    try:
        async with db.session() as session:
            return await work(session)
    finally:
        await db.dispose()


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt("Kata sandi", hide_input=True, confirmation_prompt="Ulangi kata sandi")


@click.group("staff")
def staff_group() -> None:
    """Akun petugas back office dan token API."""


@staff_group.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(["admin", "petugas"]), required=True)
@click.option("--display-name", default="", help="Nama lengkap (bawaan: NAME)")
@click.option("--password-stdin", is_flag=True, help="Baca kata sandi dari satu baris stdin (untuk skrip)")
@pass_cli
def add_cmd(cli: CliContext, name: str, role: str, display_name: str, password_stdin: bool) -> None:
    """Tambah petugas NAME (kata sandi ditanyakan tanpa ditampilkan)."""
    from bot.backoffice import audit
    from bot.backoffice.staff_accounts import AccountError, create_staff
    from bot.backoffice.texts import staff_text

    settings = cli.settings
    password = _read_password(password_stdin)

    async def work(session):  # type: ignore[no-untyped-def]
        try:
            staff = await create_staff(session, name, display_name or name, role, password)
        except AccountError as exc:
            _fail(staff_text(exc.code))
        audit.record(session, "cli", "staff.add", username=staff.username, role=role)
        await session.commit()
        return staff

    staff = asyncio.run(_with_session(settings, work))
    click.echo(f"staff {staff.username} added ({staff.role})")


@staff_group.command("token")
@click.argument("name")
@click.option("--scope", type=click.Choice(["read", "write"]), required=True)
@click.option("--label", default="", help="Nama token (bawaan: NAME-scope)")
@pass_cli
def token_cmd(cli: CliContext, name: str, scope: str, label: str) -> None:
    """Buat token API untuk petugas NAME; token dicetak sekali saja."""
    from bot.backoffice import audit
    from bot.backoffice.staff_accounts import create_token, find_staff

    async def work(session):  # type: ignore[no-untyped-def]
        staff = await find_staff(session, name)
        if staff is None or not staff.active:
            _fail(f"no active staff account named {name!r}")
        row, plain = await create_token(session, label or f"{staff.username}-{scope}", scope, staff.id)
        audit.record(session, "cli", "token.create", token_id=row.id, name=row.name, scope=scope)
        await session.commit()
        return plain

    click.echo(asyncio.run(_with_session(cli.settings, work)))


@staff_group.command("list")
@pass_cli
def list_cmd(cli: CliContext) -> None:
    """Daftar petugas."""
    from sqlalchemy import select

    from storage.models import StaffUser

    async def work(session):  # type: ignore[no-untyped-def]
        return (await session.execute(select(StaffUser).order_by(StaffUser.username))).scalars().all()

    for s in asyncio.run(_with_session(cli.settings, work)):
        state = "active" if s.active else "disabled"
        click.echo(f"{s.username}\t{s.role}\t{state}\t{s.display_name}")


def _set_active(cli: CliContext, name: str, active: bool) -> None:
    from bot.backoffice import audit
    from bot.backoffice.staff_accounts import find_staff, set_active

    async def work(session):  # type: ignore[no-untyped-def]
        staff = await find_staff(session, name)
        if staff is None:
            _fail(f"no staff account named {name!r}")
        await set_active(session, staff, active)
        audit.record(session, "cli", "staff.enable" if active else "staff.disable", username=staff.username)
        await session.commit()

    asyncio.run(_with_session(cli.settings, work))
    click.echo(f"staff {name} {'enabled' if active else 'disabled'}")


@staff_group.command("reset-password")
@click.argument("name")
@click.option("--stdin", "from_stdin", is_flag=True, help="Baca kata sandi baru dari satu baris stdin")
@pass_cli
def reset_password_cmd(cli: CliContext, name: str, from_stdin: bool) -> None:
    """Atur ulang kata sandi petugas NAME: kata sandi acak dicetak sekali (atau dibaca dari stdin dengan
    --stdin); semua sesi NAME berakhir."""
    from bot.backoffice import audit
    from bot.backoffice.staff_accounts import AccountError, find_staff, random_password, set_password
    from bot.backoffice.texts import staff_text

    password = sys.stdin.readline().rstrip("\r\n") if from_stdin else random_password()

    async def work(session):  # type: ignore[no-untyped-def]
        staff = await find_staff(session, name)
        if staff is None:
            _fail(f"no staff account named {name!r}")
        try:
            await set_password(session, staff, password)
        except AccountError as exc:
            _fail(staff_text(exc.code))
        audit.record(session, "cli", "staff.password_reset", username=staff.username)
        await session.commit()

    asyncio.run(_with_session(cli.settings, work))
    if from_stdin:
        click.echo(f"password of {name} changed; all its sessions ended")
    else:
        click.echo(f"new password of {name} (shown once): {password}")


@staff_group.command("disable")
@click.argument("name")
@pass_cli
def disable_cmd(cli: CliContext, name: str) -> None:
    """Nonaktifkan petugas NAME (semua sesinya berakhir)."""
    _set_active(cli, name, False)


@staff_group.command("enable")
@click.argument("name")
@pass_cli
def enable_cmd(cli: CliContext, name: str) -> None:
    """Aktifkan kembali petugas NAME."""
    _set_active(cli, name, True)


COMMANDS: list[click.Command] = [staff_group]
