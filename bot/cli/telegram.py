"""`hajibot telegram ...`: register, inspect and remove the Telegram webhook; `serve --telegram-polling`."""
from __future__ import annotations

import asyncio
import os
import secrets
import sys
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import click

from bot.cli.context import CliContext, pass_cli
from bot.config import Settings


def _fail(message: str, code: int = 1) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def enable_polling(services: Any) -> None:
    """Called by `hajibot serve --telegram-polling` once the services are built."""
    from bot.channels.telegram import use_polling

    if not use_polling(services):
        _fail("--telegram-polling needs channels.telegram.enabled: true in config.yml", code=2)
    click.echo("telegram: long polling (the webhook is removed while polling)")


def webhook_url(url: str, default_path: str) -> str:
    """The full webhook URL: a bare origin gets the configured webhook path appended."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise click.BadParameter("URL must look like https://haji.example.go.id/telegram/webhook")
    path = parts.path if parts.path not in ("", "/") else default_path
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def _write_secret(settings: Settings, value: str) -> str:
    from bot.channels.telegram import secret_file

    path = secret_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(value + "\n")
    return str(path)


def _bot(settings: Settings):  # type: ignore[no-untyped-def]
    if not settings.secrets.telegram_token:
        _fail("HAJIBOT_TELEGRAM_TOKEN is not set (the token BotFather gave you)", code=2)
    from bot.channels.telegram import make_bot

    return make_bot(settings)


@click.group("telegram")
def telegram_group() -> None:
    """Kanal Telegram: daftarkan atau periksa webhook."""


@telegram_group.command("set-webhook")
@click.argument("url")
@click.option("--drop-pending", is_flag=True, help="Buang pembaruan yang menunggu di Telegram")
@pass_cli
def set_webhook_cmd(cli: CliContext, url: str, drop_pending: bool) -> None:
    """Daftarkan URL webhook (https://.../telegram/webhook) ke Telegram dengan secret baru."""
    settings = cli.settings
    full = webhook_url(url, settings.config.channels.telegram.webhook_path)
    if not full.startswith("https://"):
        click.echo("warning: Telegram only calls https:// webhooks (http works with a self-hosted Bot API "
                   "server only)", err=True)
    if settings.secrets.telegram_webhook_secret:
        secret = settings.secrets.telegram_webhook_secret
        where = "HAJIBOT_TELEGRAM_WEBHOOK_SECRET (kept)"
    else:
        secret = secrets.token_urlsafe(32)
        where = _write_secret(settings, secret)
    asyncio.run(_set_webhook(settings, full, secret, drop_pending))
    click.echo(f"webhook set: {full}")
    click.echo(f"secret token: {where}; the running service picks it up on the next update")


async def _set_webhook(settings: Settings, url: str, secret: str, drop_pending: bool) -> None:
    from telegram.error import TelegramError

    from bot.channels.telegram import close_bot
    from bot.channels.telegram_inbound import ALLOWED_UPDATES

    bot = _bot(settings)
    try:
        await bot.set_webhook(url=url, secret_token=secret, allowed_updates=ALLOWED_UPDATES,
                              drop_pending_updates=drop_pending, max_connections=40)
    except TelegramError as exc:
        _fail(f"Telegram refused the webhook: {exc}")
    finally:
        await close_bot(bot)


@telegram_group.command("webhook-info")
@pass_cli
def webhook_info_cmd(cli: CliContext) -> None:
    """Tampilkan status webhook di Telegram (URL, antrean, galat terakhir)."""
    info = asyncio.run(_webhook_info(cli.settings))
    for key in ("url", "pending_update_count", "last_error_date", "last_error_message", "max_connections",
                "allowed_updates"):
        click.echo(f"{key}: {info.get(key, '')}")


async def _webhook_info(settings: Settings) -> dict[str, Any]:
    from telegram.error import TelegramError

    from bot.channels.telegram import close_bot

    bot = _bot(settings)
    try:
        return (await bot.get_webhook_info()).to_dict()
    except TelegramError as exc:
        _fail(f"Telegram: {exc}")
        raise
    finally:
        await close_bot(bot)


@telegram_group.command("delete-webhook")
@pass_cli
def delete_webhook_cmd(cli: CliContext) -> None:
    """Hapus webhook (misalnya sebelum beralih ke --telegram-polling)."""
    asyncio.run(_delete_webhook(cli.settings))
    click.echo("webhook deleted")


async def _delete_webhook(settings: Settings) -> None:
    from bot.channels.telegram import close_bot

    bot = _bot(settings)
    try:
        await bot.delete_webhook()
    finally:
        await close_bot(bot)


COMMANDS: list[click.Command] = [telegram_group]
