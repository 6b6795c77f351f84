"""`hajibot broadcast ...`: list, show, count, create, submit, approve, pause, resume, cancel, run (the worker in
the foreground with a progress bar), watch, failed (CSV), templates, link-chat."""
from __future__ import annotations

import asyncio
import getpass
import json
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

import click

from bot.cli.context import CliContext, pass_cli

T = TypeVar("T")


def _actor(by: str | None = None) -> str:
    return f"cli:{by or getpass.getuser()}"


def _fail(message: str, code: int = 1) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


async def _with_session(url: str, work: Callable[[Any], Awaitable[T]]) -> T:
    from storage.db import Database

    db = Database(url)
    try:
        async with db.session() as session:
            return await work(session)
    finally:
        await db.dispose()


def _run(cli: CliContext, work: Callable[[Any], Awaitable[T]]) -> T:
    from bot.broadcast.service import BroadcastError

    try:
        return asyncio.run(_with_session(cli.settings.database_url, work))
    except BroadcastError as exc:
        from bot.broadcast.texts import staff_text

        try:
            _fail(staff_text(exc.key, **exc.values))
        except KeyError:
            _fail(exc.key)
        raise  # unreachable


def segment_options(func: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--audience", type=click.Choice(["all", "subscribers", "linked"]), default="all",
                     show_default=True, help="Pelanggan, jamaah terhubung ke registri, atau keduanya"),
        click.option("--channel", "channels", multiple=True, help="Hanya kanal ini (boleh diulang)"),
        click.option("--estimasi-from", type=int, default=None, help="Estimasi tahun berangkat dari"),
        click.option("--estimasi-to", type=int, default=None, help="Estimasi tahun berangkat sampai"),
        click.option("--status", "statuses", multiple=True, help="Status porsi (boleh diulang)"),
        click.option("--kab-kota", "kab_kota", multiple=True),
        click.option("--kecamatan", multiple=True),
        click.option("--case-status", "case_statuses", multiple=True, help="Punya berkas dengan status ini"),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _segment(kwargs: dict[str, Any], settings: Any) -> Any:
    """The segment of the command-line filters, with the configured exclusions (deceased, cancelled ...)."""
    from bot.broadcast.audience import Segment

    config = settings.config.broadcast
    return Segment(audience=kwargs.pop("audience"), channels=list(kwargs.pop("channels")),
                   estimasi_from=kwargs.pop("estimasi_from"), estimasi_to=kwargs.pop("estimasi_to"),
                   statuses=list(kwargs.pop("statuses")), kab_kota=list(kwargs.pop("kab_kota")),
                   kecamatan=list(kwargs.pop("kecamatan")), case_statuses=list(kwargs.pop("case_statuses")),
                   exclude_porsi_statuses=list(config.excluded_porsi_statuses),
                   exclude_case_services=list(config.excluded_case_services))


def _confirm_audience(cli: CliContext, broadcast_id: int, verb: str, yes: bool) -> None:
    """Show how many people the broadcast reaches now; go on only after a yes (or --yes)."""
    from bot.broadcast import service

    from bot.broadcast import tier
    from bot.broadcast.texts import duration

    async def work(session: Any) -> tuple[dict[str, int], Any]:
        broadcast = await service.get(session, broadcast_id)
        plan = await tier.forecast(session, broadcast, tier.limits_for(cli.settings.config), service.now_utc())
        return await service.audience_size(session, broadcast), plan

    counts, plan = _run(cli, work)
    per_channel = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()) if k != "total")
    click.echo(f"broadcast {broadcast_id} will be {verb} to {counts['total']} recipients"
               + (f" ({per_channel})" if per_channel else ""))
    click.echo(f"sending takes {duration(plan.seconds)}"
               + (f" over {plan.days} days (WhatsApp tier {plan.tier}/24h, {plan.used} used in the last 24h): "
                  + ", ".join(f"day {b.day + 1} {b.recipients} from {b.starts_at:%Y-%m-%d %H:%M} UTC"
                              for b in plan.batches) if plan.days > 1 else ""))
    if not yes and not click.confirm("continue?", default=False):
        _fail("not sent (answer y to send, or pass --yes)")


def _parse_at(value: str | None, tz_name: str) -> datetime | None:
    if not value:
        return None
    from zoneinfo import ZoneInfo

    try:
        local = datetime.strptime(value.replace("T", " "), "%Y-%m-%d %H:%M")
    except ValueError:
        _fail("--at must look like 'YYYY-MM-DD HH:MM' (office time)")
        raise
    return local.replace(tzinfo=ZoneInfo(tz_name)).astimezone(timezone.utc)


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def progress_line(p: Any, width: int = 30) -> str:
    """[########......] 1234/5000 24.7%  120.0/s  ETA 0m31s  running"""
    filled = int(width * p.percent / 100)
    total = f"{p.total}{'' if p.audience_done else '+'}"
    return (f"[{'#' * filled}{'.' * (width - filled)}] {p.done}/{total} {p.percent:5.1f}%  "
            f"{p.rate:7.1f}/s  ETA {format_eta(p.eta_seconds)}  {p.status}")


@click.group("broadcast")
def broadcast_group() -> None:
    """Pengumuman massal (broadcast) ke jamaah."""


@broadcast_group.command("list")
@click.option("--limit", default=30, show_default=True)
@pass_cli
def list_cmd(cli: CliContext, limit: int) -> None:
    """Pengumuman terbaru dengan kemajuannya."""
    from bot.broadcast import service

    rows = _run(cli, lambda session: service.listing(session, limit))
    if not rows:
        click.echo("no broadcasts")
        return
    click.echo(f"{'ID':>5} {'STATUS':<17} {'DONE/TOTAL':>15} {'SENT':>8} {'FAILED':>7}  TITLE")
    for b, p in rows:
        click.echo(f"{b.id:>5} {b.status:<17} {f'{p.done}/{p.total}':>15} {p.sent:>8} "
                   f"{p.by_state.get('failed', 0):>7}  {b.title}")


@broadcast_group.command("show")
@click.argument("broadcast_id", type=int)
@click.option("--json", "as_json", is_flag=True)
@pass_cli
def show_cmd(cli: CliContext, broadcast_id: int, as_json: bool) -> None:
    """Isi, segmen, kemajuan, jumlah per status dan per kanal."""
    from bot.broadcast import service

    async def work(session: Any) -> tuple[Any, Any]:
        return await service.get(session, broadcast_id), await service.progress(session, broadcast_id)

    b, p = _run(cli, work)
    if as_json:
        click.echo(json.dumps({"id": b.id, "title": b.title, "text": b.text, "segment": b.segment,
                               "created_by": b.created_by, "approved_by": b.approved_by,
                               "scheduled_at": b.scheduled_at.isoformat() if b.scheduled_at else None,
                               **p.as_dict()}, ensure_ascii=False, indent=2))
        return
    click.echo(f"#{b.id} {b.title}  [{b.status}]  by {b.created_by}"
               + (f", approved by {b.approved_by}" if b.approved_by else ""))
    click.echo(f"segment: {json.dumps(b.segment, ensure_ascii=False)}")
    if b.scheduled_at:
        click.echo(f"scheduled: {b.scheduled_at.isoformat()}")
    click.echo(progress_line(p))
    click.echo("per state:   " + ", ".join(f"{k}={v}" for k, v in sorted(p.by_state.items())))
    for channel, states in sorted(p.by_channel.items()):
        click.echo(f"  {channel:<10} " + ", ".join(f"{k}={v}" for k, v in sorted(states.items())))
    click.echo("---\n" + b.text)


@broadcast_group.command("templates")
@pass_cli
def templates_cmd(cli: CliContext) -> None:
    """Templat pengumuman siap pakai (bot/broadcast/texts.yml), dengan tanggal musim dari config.yml."""
    from bot.broadcast.texts import ready_templates

    for key, t in ready_templates(cli.settings.config.broadcast.season).items():
        click.echo(f"{key:<26} {t.title}")


@broadcast_group.command("count")
@segment_options
@pass_cli
def count_cmd(cli: CliContext, **kwargs: Any) -> None:
    """Jumlah penerima sebuah segmen (per kanal)."""
    from bot.broadcast.audience import count

    segment = _segment(kwargs, cli.settings)
    counts = _run(cli, lambda session: count(session, segment))
    click.echo(" ".join(f"{k}={v}" for k, v in sorted(counts.items())))


@broadcast_group.command("create")
@click.option("--title", default=None, help="Judul (bawaan: judul templat)")
@click.option("--text", default=None, help="Isi pesan, dengan {nama} {estimasi_tahun} {nomor_porsi_masked}")
@click.option("--text-file", type=click.Path(exists=True, dir_okay=False), default=None)
@click.option("--template", "template_key", default=None, help="Templat siap pakai (lihat `broadcast templates`)")
@click.option("--attach", type=click.Path(exists=True, dir_okay=False), default=None, help="Gambar JPG/PNG atau PDF")
@click.option("--at", "at", default=None, help="Jadwal 'YYYY-MM-DD HH:MM' (waktu kantor)")
@click.option("--submit", is_flag=True, help="Langsung kirim/jadwalkan setelah konfirmasi jumlah penerima")
@click.option("--yes", is_flag=True, help="Tanpa pertanyaan konfirmasi (jumlah penerima tetap dicetak)")
@click.option("--by", default=None, help="Nama pembuat (bawaan: pengguna OS)")
@segment_options
@pass_cli
def create_cmd(cli: CliContext, title: str | None, text: str | None, text_file: str | None, template_key: str | None,
               attach: str | None, at: str | None, submit: bool, yes: bool, by: str | None, **kwargs: Any) -> None:
    """Buat pengumuman (draf), opsional langsung dikirim/dijadwalkan."""
    from bot.broadcast import service
    from bot.broadcast.texts import ready_templates

    settings = cli.settings
    segment = _segment(kwargs, settings)
    season = settings.config.broadcast.season
    ready = ready_templates(season).get(template_key or "")
    if template_key and ready is None:
        _fail(f"unknown template {template_key}; see `hajibot broadcast templates`")
    body = Path(text_file).read_text(encoding="utf-8") if text_file else (text or (ready.text if ready else ""))
    title = title or (ready.title if ready else "")
    when = _parse_at(at, settings.config.office.timezone)
    attachment = _store_attachment(settings, attach) if attach else None
    actor = _actor(by)

    async def work(session: Any) -> Any:
        return await service.create(session, title=title, text=body, segment=segment, actor=actor,
                                    template_key=template_key, attachment=attachment, scheduled_at=when,
                                    season=season)

    try:
        b = _run(cli, work)
    except ValueError as exc:
        _fail(str(exc))
        return
    click.echo(f"broadcast {b.id} created: {b.status}")
    if submit:
        _confirm_audience(cli, b.id, "sent", yes)
        b = _run(cli, lambda session: service.submit(session, b.id, actor, settings.config.broadcast.require_approval,
                                                      admin=True))
        click.echo(f"broadcast {b.id}: {b.status}")


def _store_attachment(settings: Any, path: str) -> dict[str, Any]:
    from bot.broadcast.web import ATTACHMENT_TYPES

    data = Path(path).read_bytes()
    if len(data) > settings.config.broadcast.max_attachment_bytes:
        _fail("attachment too large")
    stored = settings.file_store().put_sync(data, Path(path).name)
    if stored.content_type not in ATTACHMENT_TYPES:
        _fail(f"attachment must be JPG/PNG or PDF, not {stored.content_type}")
    return stored.to_json()


def _simple_action(name: str, doc: str) -> click.Command:
    @click.command(name, help=doc)
    @click.argument("broadcast_id", type=int)
    @click.option("--by", default=None, help="Nama petugas (bawaan: pengguna OS)")
    @pass_cli
    def command(cli: CliContext, broadcast_id: int, by: str | None) -> None:
        from bot.broadcast import service

        if name == "resume":
            from bot.broadcast.tier import limits_for

            limits = limits_for(cli.settings.config)
            b = _run(cli, lambda session: service.resume(session, broadcast_id, _actor(by), limits))
        else:
            b = _run(cli, lambda session: getattr(service, name)(session, broadcast_id, _actor(by)))
        click.echo(f"broadcast {b.id}: {b.status}")

    return command


for _name, _doc in (("pause", "Jeda pengiriman."),
                    ("resume", "Lanjutkan pengiriman yang dijeda."), ("cancel", "Batalkan pengumuman.")):
    broadcast_group.add_command(_simple_action(_name, _doc))


@broadcast_group.command("submit")
@click.argument("broadcast_id", type=int)
@click.option("--at", "at", default=None, help="Jadwal 'YYYY-MM-DD HH:MM' (waktu kantor)")
@click.option("--yes", is_flag=True, help="Tanpa pertanyaan konfirmasi (jumlah penerima tetap dicetak)")
@click.option("--by", default=None)
@pass_cli
def submit_cmd(cli: CliContext, broadcast_id: int, at: str | None, yes: bool, by: str | None) -> None:
    """Kirim/jadwalkan draf setelah konfirmasi jumlah penerima (operator server = admin)."""
    from bot.broadcast import service

    settings = cli.settings
    when = _parse_at(at, settings.config.office.timezone)
    _confirm_audience(cli, broadcast_id, "sent", yes)
    b = _run(cli, lambda session: service.submit(session, broadcast_id, _actor(by),
                                                 settings.config.broadcast.require_approval, when, admin=True))
    click.echo(f"broadcast {b.id}: {b.status}")


@broadcast_group.command("approve")
@click.argument("broadcast_id", type=int)
@click.option("--yes", is_flag=True, help="Tanpa pertanyaan konfirmasi (jumlah penerima tetap dicetak)")
@click.option("--by", default=None, help="Nama petugas (bawaan: pengguna OS)")
@pass_cli
def approve_cmd(cli: CliContext, broadcast_id: int, yes: bool, by: str | None) -> None:
    """Setujui pengumuman (petugas kedua) setelah konfirmasi jumlah penerima."""
    from bot.broadcast import service

    _confirm_audience(cli, broadcast_id, "sent after approval", yes)
    b = _run(cli, lambda session: service.approve(session, broadcast_id, _actor(by)))
    click.echo(f"broadcast {b.id}: {b.status}")


@broadcast_group.command("failed")
@click.argument("broadcast_id", type=int)
@click.option("--out", type=click.Path(dir_okay=False), default="-", show_default=True)
@pass_cli
def failed_cmd(cli: CliContext, broadcast_id: int, out: str) -> None:
    """Daftar penerima yang gagal, sebagai CSV."""
    from bot.broadcast import service

    async def work(session: Any) -> None:
        await service.get(session, broadcast_id)
        with click.open_file(out, "w", encoding="utf-8") as handle:
            async for chunk in service.failed_csv_chunks(session, broadcast_id):
                handle.write(chunk)

    _run(cli, work)


@broadcast_group.command("link-chat")
@click.option("--staff", "username", required=True)
@click.option("--channel", required=True)
@click.option("--user-id", required=True, help="ID chat di kanal itu (Telegram chat id, whatsapp:+62...)")
@pass_cli
def link_chat_cmd(cli: CliContext, username: str, channel: str, user_id: str) -> None:
    """Hubungkan petugas ke chat-nya sendiri untuk kirim uji (chat harus sudah pernah menulis ke bot)."""
    from sqlalchemy import select

    from bot.broadcast import service
    from storage.models import Conversation, StaffUser

    async def work(session: Any) -> str:
        staff = (await session.execute(select(StaffUser).where(StaffUser.username == username.lower()))
                 ).scalar_one_or_none()
        conv = (await session.execute(select(Conversation).where(
            Conversation.channel == channel, Conversation.channel_user_id == user_id))).scalar_one_or_none()
        if staff is None:
            return f"staff {username} not found"
        if conv is None:
            return "chat not found: write to the bot from that chat first"
        await service.link_staff_chat(session, staff.id, conv.id)
        return ""

    problem = _run(cli, work)
    if problem:
        _fail(problem)
    click.echo("linked")


@broadcast_group.command("watch")
@click.argument("broadcast_id", type=int)
@click.option("--interval", default=2.0, show_default=True)
@pass_cli
def watch_cmd(cli: CliContext, broadcast_id: int, interval: float) -> None:
    """Tampilkan kemajuan (dikirim oleh `hajibot serve`) sampai selesai."""
    asyncio.run(_watch(cli.settings.database_url, broadcast_id, interval))


async def _watch(url: str, broadcast_id: int, interval: float, stop: Callable[[], bool] = lambda: False) -> None:
    from bot.broadcast import service
    from storage.db import Database

    db = Database(url)
    try:
        while True:
            async with db.session() as session:
                p = await service.progress(session, broadcast_id)
            click.echo("\r" + progress_line(p), nl=False)
            if p.status in ("completed", "cancelled", "draft", "pending_approval") or stop():
                click.echo()
                return
            await asyncio.sleep(interval)
    finally:
        await db.dispose()


@broadcast_group.command("run")
@click.argument("broadcast_id", type=int, required=False)
@pass_cli
def run_cmd(cli: CliContext, broadcast_id: int | None) -> None:
    """Jalankan pengirim di terminal ini (tanpa `serve`) sampai tidak ada pengumuman berjalan; Ctrl-C berhenti
    dengan rapi (pengiriman yang sedang jalan diselesaikan dan dicatat)."""
    asyncio.run(_run_worker(cli.settings, broadcast_id))


async def _show_progress(db: Any, broadcast_id: int | None) -> None:
    if broadcast_id is None:
        return
    from bot.broadcast import service

    async with db.session() as session:
        p = await service.progress(session, broadcast_id)
    click.echo("\r" + progress_line(p), nl=False)


async def _run_worker(settings: Any, broadcast_id: int | None) -> None:
    from bot.broadcast.worker import BroadcastWorker
    from bot.services import StartupError, build_services

    try:
        services = await build_services(settings)
    except StartupError as exc:
        _fail(str(exc), code=2)
        return
    from bot.broadcast.tier import limits_for

    worker = BroadcastWorker(services.db, services.channels, settings.config.broadcast,
                             limits=limits_for(settings.config))
    task = asyncio.create_task(worker.run(until_idle=True))
    started = time.monotonic()
    try:
        while not task.done():
            await _show_progress(services.db, broadcast_id)
            await asyncio.wait({task}, timeout=1.0)
        await _show_progress(services.db, broadcast_id)
        click.echo()
    except (KeyboardInterrupt, asyncio.CancelledError):
        pass
    finally:
        await worker.stop()  # the loop ends after recording the sends in flight
        await asyncio.gather(task, return_exceptions=True)
        await services.close()
    click.echo(f"sent {worker.sent_total} in {time.monotonic() - started:.1f}s")


COMMANDS: list[click.Command] = [broadcast_group]
