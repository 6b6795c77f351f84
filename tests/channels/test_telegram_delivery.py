"""Telegram outbound through the outbox with a fake clock: keyboards, files, 429 retry_after, blocked users,
back-off and max attempts, per-chat and global rate limits, order within a conversation."""
from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.core.outbox import Outbox
from bot.services import build_services
from tests.channels.helpers import FakeClock, conversation, message, queue

CHAT = "555000222"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF" + b"p" * 2000
PDF = b"%PDF-1.4\n" + b"q" * 2000 + b"\n%%EOF\n"


@pytest.fixture
async def make_services(channel_settings: Any) -> AsyncIterator[Any]:
    built: list[Any] = []

    async def make(**telegram: Any) -> Any:
        services = await build_services(channel_settings(telegram=telegram))
        built.append(services)
        return services

    yield make
    for services in built:
        await services.close()


@pytest.fixture
async def services(make_services: Any) -> Any:
    return await make_services()


def outbox(services: Any, clock: FakeClock, max_attempts: int = 8) -> Outbox:
    return Outbox(services.db, services.channels, max_attempts=max_attempts, clock=clock)


async def test_text_with_choices_is_sent_with_inline_keyboard(services, fake_telegram):
    clock = FakeClock()
    [mid] = await queue(services, "telegram", CHAT, "Silakan pilih:", choices=["Cek porsi", "Pembatalan"])
    assert await outbox(services, clock).send_due() == 1
    [call] = fake_telegram.sent()
    assert call.params["text"] == "Silakan pilih:"
    assert call.params["reply_markup"] == {"inline_keyboard": [
        [{"text": "1. Cek porsi", "callback_data": "1"}], [{"text": "2. Pembatalan", "callback_data": "2"}]]}
    row = await message(services, mid)
    assert row.status == "sent" and row.channel_message_id == f"{CHAT}:5000"  # the fake numbers from 5000 per chat


async def test_same_message_number_in_two_chats_is_stored_for_both(services, fake_telegram):
    clock = FakeClock()
    [first] = await queue(services, "telegram", CHAT, "Pesan untuk jemaah pertama")
    [second] = await queue(services, "telegram", "555000333", "Pesan untuk jemaah kedua")
    assert await outbox(services, clock).send_due() == 2
    assert [c.params["chat_id"] for c in fake_telegram.sent()] == [CHAT, "555000333"]
    rows = [await message(services, mid) for mid in (first, second)]
    assert [(r.status, r.channel_message_id) for r in rows] == [("sent", f"{CHAT}:5000"), ("sent", "555000333:5000")]


async def test_files_go_as_photo_and_document_then_text(services, fake_telegram):
    photo = (await services.files.put(JPEG, "bukti.jpg")).to_json()
    doc = (await services.files.put(PDF, "formulir.pdf")).to_json()
    await queue(services, "telegram", CHAT, "Berikut berkasnya.", attachments=[photo, doc])
    await outbox(services, FakeClock()).send_due()
    assert [c.method for c in fake_telegram.sent()] == ["sendPhoto", "sendDocument", "sendMessage"]
    assert fake_telegram.sent()[0].files["photo"] == ("bukti.jpg", JPEG)
    assert fake_telegram.sent()[1].files["document"] == ("formulir.pdf", PDF)


async def test_long_text_is_split(services, fake_telegram):
    text = ("kalimat panjang " * 400).strip()  # ~6400 characters
    await queue(services, "telegram", CHAT, text)
    await outbox(services, FakeClock()).send_due()
    parts = [c.params["text"] for c in fake_telegram.sent()]
    assert len(parts) == 2 and all(len(p) <= 4096 for p in parts)
    assert " ".join(parts) == text


async def test_429_then_success_delivers_once_after_retry_after(services, fake_telegram):
    clock = FakeClock()
    box = outbox(services, clock)
    [mid] = await queue(services, "telegram", CHAT, "Assalamualaikum")
    fake_telegram.fail_next("sendMessage", 429, "Too Many Requests: retry after 7", retry_after=7)
    assert await box.send_due() == 1
    row = await message(services, mid)
    assert row.status == "pending" and row.error.startswith("429")
    clock.advance(6)
    assert await box.send_due() == 0  # still waiting for retry_after
    clock.advance(1.5)
    assert await box.send_due() == 1
    assert await box.send_due() == 0
    assert fake_telegram.texts() == ["Assalamualaikum"]
    assert len([c for c in fake_telegram.calls if c.method == "sendMessage"]) == 2
    assert (await message(services, mid)).status == "sent"


async def test_failed_part_is_not_sent_twice(services, fake_telegram):
    clock = FakeClock()
    box = outbox(services, clock)
    photo = (await services.files.put(JPEG, "bukti.jpg")).to_json()
    await queue(services, "telegram", CHAT, "Ini buktinya", attachments=[photo])
    fake_telegram.fail_next("sendMessage", 429, "Too Many Requests: retry after 2", retry_after=2)
    await box.send_due()
    clock.advance(3)
    await box.send_due()
    assert [c.method for c in fake_telegram.sent()] == ["sendPhoto", "sendMessage"]


async def test_blocked_user_is_marked_and_not_retried(services, fake_telegram):
    clock = FakeClock()
    box = outbox(services, clock)
    first, second = await queue(services, "telegram", CHAT, "Satu", "Dua")
    fake_telegram.fail_next("sendMessage", 403, "Forbidden: bot was blocked by the user")
    await box.send_due()
    row = await message(services, first)
    assert row.status == "failed" and "blocked by the user" in row.error
    assert (await conversation(services, "telegram", CHAT)).blocked
    clock.advance(3600)
    await box.drain()
    assert (await message(services, second)).status == "failed"
    assert [c.method for c in fake_telegram.calls] == ["sendMessage"]  # nothing after the 403


async def test_user_writing_again_unblocks(services, fake_telegram):
    from bot.core.outbox import mark_reachable

    box = outbox(services, FakeClock())
    await queue(services, "telegram", CHAT, "Satu")
    fake_telegram.fail_next("sendMessage", 403, "Forbidden: bot was blocked by the user")
    await box.send_due()
    conv = await conversation(services, "telegram", CHAT)
    await mark_reachable(services.db, conv.id)
    [mid] = await queue(services, "telegram", CHAT, "Selamat datang kembali")
    await box.send_due()
    assert (await message(services, mid)).status == "sent"


async def test_server_errors_back_off_then_fail_with_reason(services, fake_telegram):
    clock = FakeClock()
    box = outbox(services, clock, max_attempts=3)
    [mid] = await queue(services, "telegram", CHAT, "Halo")
    for _ in range(3):
        fake_telegram.fail_next("sendMessage", 502, "Bad Gateway")
    delays = []
    for _ in range(3):
        assert await box.send_due() == 1
        row = await message(services, mid)
        if row.status == "pending":
            delays.append((row.next_attempt_at - clock()).total_seconds())
            clock.advance(delays[-1] + 0.01)
    row = await message(services, mid)
    assert row.status == "failed" and "after 3 attempts" in row.error
    assert len(delays) == 2 and delays[1] > delays[0]  # exponential back-off
    assert not (await conversation(services, "telegram", CHAT)).blocked


async def test_bad_request_fails_without_blocking(services, fake_telegram):
    [mid] = await queue(services, "telegram", CHAT, "Halo")
    fake_telegram.fail_next("sendMessage", 400, "Bad Request: message text is empty")
    await outbox(services, FakeClock()).send_due()
    row = await message(services, mid)
    assert row.status == "failed" and "text is empty" in row.error
    assert not (await conversation(services, "telegram", CHAT)).blocked


async def test_replies_of_one_conversation_stay_in_order(services, fake_telegram):
    clock = FakeClock()
    box = outbox(services, clock)
    await queue(services, "telegram", CHAT, "pertama", "kedua", "ketiga")
    fake_telegram.fail_next("sendMessage", 429, "Too Many Requests: retry after 5", retry_after=5)
    await box.drain()
    assert fake_telegram.texts() == []  # the first one waits, so do the others
    clock.advance(5)
    await box.drain()
    assert fake_telegram.texts() == ["pertama", "kedua", "ketiga"]


async def test_per_chat_rate_limit(make_services, fake_telegram):
    services = await make_services(rate_per_chat_per_second=1, burst_per_chat=1, rate_per_second=30)
    clock = FakeClock()
    box = outbox(services, clock)
    await queue(services, "telegram", CHAT, "a", "b", "c")
    assert await box.drain() == 1
    assert box.next_wake == pytest.approx(1.0)
    clock.advance(0.5)
    assert await box.drain() == 0
    clock.advance(0.5)
    assert await box.drain() == 1
    clock.advance(1)
    assert await box.drain() == 1
    assert fake_telegram.texts() == ["a", "b", "c"]


async def test_global_rate_limit(make_services, fake_telegram):
    services = await make_services(rate_per_chat_per_second=1, burst_per_chat=1, rate_per_second=30)
    clock = FakeClock()
    box = outbox(services, clock)
    for i in range(45):
        await queue(services, "telegram", str(700000 + i), f"pesan {i}")
    assert await box.drain() == 30  # the burst of one second
    clock.advance(0.1)
    assert await box.drain() == 3  # 30 per second: 3 per 100 ms
    clock.advance(1)
    assert await box.drain() == 12
    assert len(fake_telegram.texts()) == 45
