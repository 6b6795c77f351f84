"""`hajibot updates list | show | send | discard`: personal updates after a registry import (bot/updates).
`hajibot import-porsi` prints the same summary (bot/cli/core.py)."""
from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click

from bot.cli.context import CliContext, pass_cli

T = TypeVar("T")


def _fail(message: str, code: int = 1) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _pairs(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items() if k != "total") or "-"


def summary_lines(summary: Any, title: str | None = None) -> list[str]:
    """The staff summary as plain lines (the keys of kinds, channels and reasons; labels are in texts.yml)."""
    b = summary.batch
    lines = [title or f"import {b.id} ({b.status}): {b.imported} rows by {b.actor}",
             f"  changed pilgrims: {_pairs(summary.changes)}"]
    if b.status == "preview":
        lines.append(f"  personal updates: {summary.total} chats would be told now ({_pairs(summary.recipients)})")
    else:
        lines.append(f"  personal updates handed to the outbox: {sum(summary.delivery.values())} "
                     f"({_pairs(summary.delivery)}); waiting for their turn: {summary.waiting}")
    if summary.by_kind:
        lines.append(f"  per kind of change: {_pairs(summary.by_kind)}")
    lines.append(f"  skipped: {summary.skipped_total} ({_pairs(summary.skipped)})")
    return lines


def _run(cli: CliContext, work: Callable[[Any], Awaitable[T]]) -> T:
    from bot.updates.service import UpdateError
    from bot.updates.texts import staff_text
    from storage.db import Database

    async def go() -> T:
        db = Database(cli.settings.database_url)
        try:
            async with db.session() as session:
                return await work(session)
        finally:
            await db.dispose()

    try:
        return asyncio.run(go())
    except UpdateError as exc:
        _fail(staff_text(exc.key, **exc.values))
        raise  # unreachable


def confirm_and_send(cli: CliContext, import_id: int, yes: bool) -> None:
    """Show the counts; on a yes (or --yes) hand the batch to the service's update sender."""
    from bot.updates import service

    exclusions = cli.settings.config.broadcast

    async def show(session: Any) -> Any:
        return await service.summarize(session, import_id, exclusions)

    summary = _run(cli, show)
    for line in summary_lines(summary):
        click.echo(line)
    if summary.batch.status != "preview":
        _fail(f"import {import_id} is {summary.batch.status}: nothing to confirm")
    if not yes and not click.confirm(f"send personal updates to {summary.total} chats?", default=False):
        _fail(f"not sent (answer y, or pass --yes; later: hajibot updates send {import_id})")

    async def send(session: Any) -> Any:
        return await service.confirm(session, import_id, "cli", exclusions, admin=True,
                                     expected_total=summary.total)

    after = _run(cli, send)
    click.echo(f"confirmed: {after.waiting} updates go out through `hajibot serve` at the configured pace "
               f"(updates.rates); skipped {after.skipped_total} ({_pairs(after.skipped)})")


@click.group("updates")
def updates_group() -> None:
    """Kabar pribadi untuk jemaah setelah impor registri (perubahan status/estimasi)."""


@updates_group.command("list")
@pass_cli
def list_cmd(cli: CliContext) -> None:
    """Impor registri terakhir dan status kabarnya."""
    from bot.updates import service

    for b in _run(cli, lambda session: service.listing(session, 50)):
        click.echo(f"{b.id}\t{b.status}\t{b.created_at:%Y-%m-%d %H:%M}\t{b.actor}\t{b.imported} rows\t"
                   f"{_pairs(dict(b.changes or {}))}")


@updates_group.command("show")
@click.argument("import_id", type=int)
@pass_cli
def show_cmd(cli: CliContext, import_id: int) -> None:
    """Ringkasan: perubahan, penerima, terkirim, dilewati beserta alasannya."""
    from bot.updates import service

    summary = _run(cli, lambda session: service.summarize(session, import_id, cli.settings.config.broadcast))
    for line in summary_lines(summary):
        click.echo(line)


@updates_group.command("send")
@click.argument("import_id", type=int)
@click.option("--yes", is_flag=True, help="Tanpa pertanyaan konfirmasi (jumlah penerima tetap dicetak)")
@pass_cli
def send_cmd(cli: CliContext, import_id: int, yes: bool) -> None:
    """Kirim kabar pribadi dari satu impor (setelah jumlahnya ditampilkan)."""
    confirm_and_send(cli, import_id, yes)


@updates_group.command("discard")
@click.argument("import_id", type=int)
@pass_cli
def discard_cmd(cli: CliContext, import_id: int) -> None:
    """Jangan kirim kabar untuk impor ini."""
    from bot.updates import service

    _run(cli, lambda session: service.discard(session, import_id, "cli", admin=True))
    click.echo(f"import {import_id}: personal updates discarded")


COMMANDS: list[click.Command] = [updates_group]
