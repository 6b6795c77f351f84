"""Durable inbox through the channels: a message stored and acknowledged but not processed when the process
died is processed after the restart. Telegram polling mode: the offset only moves past stored updates."""
from __future__ import annotations

from typing import Any

import pytest

from bot.app import create_app
from bot.channels.telegram import TelegramChannel, use_polling
from bot.channels.telegram_inbound import TransientError
from bot.channels.whatsapp import WhatsAppChannel
from bot.services import build_services
from tests.channels import fake_telegram as tg
from tests.channels.conftest import TELEGRAM_SECRET, eventually, wait_until
from tests.channels.fake_twilio import inbound_params, signed
from tests.channels.helpers import messages

CHAT = 555000333
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF" + b"r" * 3000


async def _crash_before_processing(self: Any, conversation_id: int) -> None:
    """Stands in for the process dying right after the message was stored and acknowledged."""


async def inbound_status(services: Any, channel: str) -> list[str]:
    return [m.status for m in await messages(services, channel, "in")]


async def test_telegram_message_stored_before_a_crash_is_processed_after_restart(
        channel_settings, aiohttp_client, fake_telegram, monkeypatch: pytest.MonkeyPatch):
    settings = channel_settings()
    first = await build_services(settings)
    with monkeypatch.context() as patch:
        patch.setattr(TelegramChannel, "_process", _crash_before_processing)
        client = await aiohttp_client(create_app(first))
        response = await client.post("/telegram/webhook", json=tg.text_update(3001, CHAT, "halo"),
                                     headers={"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET})
        assert response.status == 200
        await first.channels["telegram"].wait_idle()
        assert await inbound_status(first, "telegram") == ["received"]
        await client.close()  # the process is gone
    assert fake_telegram.sent() == []

    second = await build_services(settings)  # restart
    await aiohttp_client(create_app(second))
    assert await eventually(lambda: _processed(second, "telegram"))
    await wait_until(lambda: len(fake_telegram.sent()) >= 1)
    assert int(fake_telegram.sent()[0].params["chat_id"]) == CHAT


async def test_whatsapp_message_stored_before_a_crash_is_processed_after_restart(
        channel_settings, aiohttp_client, fake_twilio, monkeypatch: pytest.MonkeyPatch):
    settings = channel_settings()
    first = await build_services(settings)
    params = inbound_params("halo", "SM" + "7" * 32)
    with monkeypatch.context() as patch:
        patch.setattr(WhatsAppChannel, "_process", _crash_before_processing)
        client = await aiohttp_client(create_app(first))
        response = await client.post("/whatsapp/webhook", data=params,
                                     headers=signed("https://haji.example.go.id/whatsapp/webhook", params))
        assert response.status == 200
        await first.channels["whatsapp"].wait_idle()
        assert await inbound_status(first, "whatsapp") == ["received"]
        await client.close()
    assert fake_twilio.created == []

    second = await build_services(settings)
    await aiohttp_client(create_app(second))
    assert await eventually(lambda: _processed(second, "whatsapp"))
    await wait_until(lambda: len(fake_twilio.created) >= 1)
    assert fake_twilio.created[0].one("To") == "whatsapp:+6281234567890"


async def _processed(services: Any, channel: str) -> bool:
    return await inbound_status(services, channel) == ["processed"]


async def test_polling_stores_updates_and_moves_the_offset(channel_services, fake_telegram):
    channel = channel_services.channels["telegram"]
    fake_telegram.updates = [tg.text_update(4001, CHAT, "halo"), tg.text_update(4002, CHAT, "menu")]
    assert await channel.poll_once(timeout=0) == 2
    assert channel.offset == 4003
    assert await channel.poll_once(timeout=0) == 0
    await channel.wait_idle()
    assert [m.text for m in await messages(channel_services, "telegram", "in")] == ["halo", "menu"]
    [call] = [c for c in fake_telegram.calls if c.method == "getUpdates"][-1:]
    assert call.params["offset"] == "4003"
    assert call.params["allowed_updates"] == ["message", "callback_query"]


async def test_polling_keeps_the_offset_when_an_update_cannot_be_stored(channel_services, fake_telegram):
    channel = channel_services.channels["telegram"]
    fake_telegram.add_file("AgACpoll", JPEG, "photos/poll.jpg")
    fake_telegram.fail_next("getFile", 500, "Internal Server Error")
    fake_telegram.updates = [tg.text_update(4101, CHAT, "halo"), tg.photo_update(4102, CHAT, "AgACpoll", len(JPEG))]
    with pytest.raises(TransientError):
        await channel.poll_once(timeout=0)
    assert channel.offset == 4102  # the text is stored, the photo will be fetched again
    assert await channel.poll_once(timeout=0) == 1
    assert channel.offset == 4103
    assert len(await messages(channel_services, "telegram", "in")) == 2


async def test_serve_with_polling_answers_without_a_webhook(channel_services, aiohttp_client, fake_telegram):
    assert use_polling(channel_services)
    fake_telegram.updates = [tg.text_update(4201, CHAT, "halo")]
    await aiohttp_client(create_app(channel_services))
    await wait_until(lambda: len(fake_telegram.sent()) >= 1)
    assert [c.method for c in fake_telegram.calls][:1] == ["deleteWebhook"]
