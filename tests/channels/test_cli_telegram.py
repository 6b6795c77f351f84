"""`hajibot telegram set-webhook / webhook-info / delete-webhook` against the fake Bot API, and the
fresh secret reaching the running service's webhook check."""
from __future__ import annotations

import asyncio
import os
from typing import Any

import click
from click.testing import CliRunner

from bot.app import create_app
from bot.channels.telegram import secret_file
from bot.cli import cli
from bot.cli.telegram import COMMANDS, webhook_url
from bot.services import build_services
from tests.channels import fake_telegram as tg
from tests.channels.conftest import CHANNEL_ENV, TELEGRAM_SECRET
from tests.channels.helpers import messages


def _cli() -> click.Group:
    for command in COMMANDS:
        cli.add_command(command)
    return cli


async def run(settings: Any, *args: str, env: dict[str, str] | None = None) -> Any:
    """Run the CLI in a thread (it has its own event loop) while the fake server keeps serving here."""
    config = str(settings.base_dir / "config.yml")
    full_env = {**CHANNEL_ENV, "HAJIBOT_DATABASE_URL": settings.database_url, **(env or {})}
    return await asyncio.to_thread(CliRunner().invoke, _cli(), ["--config", config, *args], env=full_env)


def test_webhook_url_gets_the_default_path():
    assert webhook_url("https://haji.example.go.id", "/telegram/webhook") == \
        "https://haji.example.go.id/telegram/webhook"
    assert webhook_url("https://haji.example.go.id/x/hook", "/telegram/webhook") == "https://haji.example.go.id/x/hook"


async def test_set_webhook_with_a_fresh_secret(channel_settings, fake_telegram, aiohttp_client):
    settings = channel_settings(env={"HAJIBOT_TELEGRAM_WEBHOOK_SECRET": ""})
    result = await run(settings, "telegram", "set-webhook", "https://haji.example.go.id",
                       env={"HAJIBOT_TELEGRAM_WEBHOOK_SECRET": ""})
    assert result.exit_code == 0, result.output
    hook = fake_telegram.webhook
    assert hook["url"] == "https://haji.example.go.id/telegram/webhook"
    assert hook["allowed_updates"] == ["message", "callback_query"]
    secret = hook["secret_token"]
    assert len(secret) >= 32 and secret != TELEGRAM_SECRET
    path = secret_file(settings)
    assert path.read_text().strip() == secret and oct(os.stat(path).st_mode & 0o777) == "0o600"

    services = await build_services(settings)
    client = await aiohttp_client(create_app(services))
    update = tg.text_update(6001, 42, "halo")
    assert (await client.post("/telegram/webhook", json=update,
                              headers={"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET})).status == 403
    assert (await client.post("/telegram/webhook", json=update,
                              headers={"X-Telegram-Bot-Api-Secret-Token": secret})).status == 200
    assert len(await messages(services, "telegram", "in")) == 1

    rotated = await run(settings, "telegram", "set-webhook", "https://haji.example.go.id",
                        env={"HAJIBOT_TELEGRAM_WEBHOOK_SECRET": ""})
    assert rotated.exit_code == 0
    new_secret = fake_telegram.webhook["secret_token"]
    assert new_secret != secret  # the running service follows without a restart
    assert (await client.post("/telegram/webhook", json=tg.text_update(6002, 42, "menu"),
                              headers={"X-Telegram-Bot-Api-Secret-Token": new_secret})).status == 200


async def test_set_webhook_keeps_the_configured_secret(channel_settings, fake_telegram):
    settings = channel_settings()
    result = await run(settings, "telegram", "set-webhook", "https://haji.example.go.id/telegram/webhook")
    assert result.exit_code == 0, result.output
    assert fake_telegram.webhook["secret_token"] == TELEGRAM_SECRET
    info = await run(settings, "telegram", "webhook-info")
    assert "url: https://haji.example.go.id/telegram/webhook" in info.output
    deleted = await run(settings, "telegram", "delete-webhook")
    assert deleted.exit_code == 0 and fake_telegram.webhook == {}


async def test_set_webhook_refused_by_telegram(channel_settings, fake_telegram):
    fake_telegram.fail_next("setWebhook", 400, "Bad Request: bad webhook: HTTPS url must be provided for webhook")
    result = await run(channel_settings(), "telegram", "set-webhook", "http://haji.example.go.id")
    assert result.exit_code == 1
    assert "https url must be provided" in result.output.lower()


def test_commands_are_registered():
    from bot.cli import _register

    _register()
    runner = CliRunner()
    assert "--telegram-polling" in runner.invoke(cli, ["serve", "--help"]).output
    output = runner.invoke(cli, ["telegram", "--help"]).output
    assert "set-webhook" in output and "webhook-info" in output and "delete-webhook" in output


def test_polling_without_telegram_enabled_is_refused():
    from types import SimpleNamespace

    from bot.cli.telegram import enable_polling

    result = CliRunner().invoke(click.Command("x", callback=lambda: enable_polling(SimpleNamespace(channels={}))))
    assert result.exit_code == 2 and "channels.telegram.enabled" in result.output
