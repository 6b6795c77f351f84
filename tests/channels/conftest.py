"""Fixtures for channel tests: fake Telegram and Twilio servers, and the full app wired to them."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from tests.channels.fake_telegram import FakeTelegram
from tests.channels.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio

TELEGRAM_TOKEN = "123456789:AAH-test_token-for-fake-server"
TELEGRAM_SECRET = "webhook-secret_0123456789"
WHATSAPP_FROM = "whatsapp:+14155238886"


async def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll `predicate` until true (background tasks and the outbox run on their own)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 10.0) -> Any:
    """Await `check()` until it returns something truthy (e.g. a database look-up); return that."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not (result := await check()):
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)
    return result


@pytest.fixture
async def fake_telegram(aiohttp_server: Any) -> FakeTelegram:
    fake = FakeTelegram(TELEGRAM_TOKEN)
    server = await aiohttp_server(fake.app)
    fake.url = str(server.make_url("")).rstrip("/")  # type: ignore[attr-defined]
    return fake


@pytest.fixture
async def fake_twilio(aiohttp_server: Any) -> FakeTwilio:
    fake = FakeTwilio()
    server = await aiohttp_server(fake.app)
    fake.url = str(server.make_url("")).rstrip("/")
    return fake


def telegram_config(fake: FakeTelegram, **extra: Any) -> dict[str, Any]:
    return {"enabled": True, "base_url": f"{fake.url}/bot", "base_file_url": f"{fake.url}/file/bot",  # type: ignore[attr-defined]
            "rate_per_chat_per_second": 1000, "burst_per_chat": 20, "rate_per_second": 1000, **extra}


def whatsapp_config(fake: FakeTwilio, **extra: Any) -> dict[str, Any]:
    return {"enabled": True, "from_number": WHATSAPP_FROM, "public_url": "https://haji.example.go.id",
            "api_base_url": fake.url, "messages_per_second": 1000, **extra}


CHANNEL_ENV = {"HAJIBOT_TELEGRAM_TOKEN": TELEGRAM_TOKEN, "HAJIBOT_TELEGRAM_WEBHOOK_SECRET": TELEGRAM_SECRET,
               "HAJIBOT_TWILIO_ACCOUNT_SID": ACCOUNT_SID, "HAJIBOT_TWILIO_AUTH_TOKEN": AUTH_TOKEN}


@pytest.fixture
def channel_settings(make_settings: Any, fake_telegram: FakeTelegram, fake_twilio: FakeTwilio) -> Any:
    """Factory: settings with both channels pointed at the fakes; keyword overrides per channel."""

    def make(telegram: dict[str, Any] | None = None, whatsapp: dict[str, Any] | None = None,
             env: dict[str, str] | None = None) -> Any:
        channels = {"telegram": telegram_config(fake_telegram, **(telegram or {})),
                    "whatsapp": whatsapp_config(fake_twilio, **(whatsapp or {}))}
        return make_settings({"channels": channels}, env={**CHANNEL_ENV, **(env or {})})

    return make


@pytest.fixture
async def channel_services(channel_settings: Any) -> AsyncIterator[Any]:
    """Services with Telegram and WhatsApp enabled (pointed at the fakes) and the demo registry."""
    from bot.services import build_services
    from storage.demo import seed_demo

    built = await build_services(channel_settings())
    async with built.db.session() as session:
        await seed_demo(session)
    try:
        yield built
    finally:
        await built.close()


@pytest.fixture
async def channel_client(channel_services: Any, aiohttp_client: Any) -> Any:
    """The full app (outbox worker running) with both channels."""
    from bot.app import create_app

    return await aiohttp_client(create_app(channel_services))
