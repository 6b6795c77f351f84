"""WhatsApp outbound through the real twilio client against the fake API: the 24-hour window, Content
templates, quick replies, media, 429/5xx retries, unreachable numbers, per-sender MPS."""
from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from bot.core.outbox import Outbox, mark_reachable
from bot.services import build_services
from tests.channels.helpers import FakeClock, conversation, message, queue

USER = "whatsapp:+6281234567890"
NOTIFY_SID = "HX" + "a" * 32
QUICK3_SID = "HX" + "b" * 32
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF" + b"w" * 1000


@pytest.fixture
async def make_services(channel_settings: Any) -> AsyncIterator[Any]:
    built: list[Any] = []

    async def make(**whatsapp: Any) -> Any:
        services = await build_services(channel_settings(whatsapp=whatsapp))
        built.append(services)
        return services

    yield make
    for services in built:
        await services.close()


@pytest.fixture
async def services(make_services: Any) -> Any:
    return await make_services()


def outbox(services: Any, clock: FakeClock, max_attempts: int = 8) -> Outbox:
    services.channels["whatsapp"].sender.clock = clock
    return Outbox(services.db, services.channels, max_attempts=max_attempts, clock=clock)


async def test_free_form_inside_the_window(services, fake_twilio):
    clock = FakeClock()
    [mid] = await queue(services, "whatsapp", USER, "Nomor porsi Bapak/Ibu terdaftar.",
                        last_inbound_at=clock() - timedelta(hours=23))
    await outbox(services, clock).send_due()
    [created] = fake_twilio.created
    assert created.one("Body") == "Nomor porsi Bapak/Ibu terdaftar."
    assert created.one("To") == USER and created.one("ContentSid") is None
    row = await message(services, mid)
    assert row.status == "sent" and row.channel_message_id.startswith("SM")


async def test_choices_as_numbered_list(services, fake_twilio):
    await queue(services, "whatsapp", USER, "Silakan pilih layanan:", choices=["Cek porsi", "Pembatalan", "Petugas"])
    await outbox(services, FakeClock()).send_due()
    assert fake_twilio.bodies() == [
        "Silakan pilih layanan:\n\n1. Cek porsi\n2. Pembatalan\n3. Petugas\n\nBalas 1, 2 atau 3."]


async def test_outside_window_without_template_is_undeliverable_until_the_user_writes(services, fake_twilio):
    clock = FakeClock()
    box = outbox(services, clock)
    [mid] = await queue(services, "whatsapp", USER, "Berkas Bapak/Ibu sudah diverifikasi.",
                        last_inbound_at=clock() - timedelta(hours=25))
    await box.send_due()
    row = await message(services, mid)
    assert row.status == "undeliverable" and "24-hour" in row.error
    assert fake_twilio.attempts == 0
    conv = await conversation(services, "whatsapp", USER)
    await mark_reachable(services.db, conv.id)  # what the webhook does when the user writes again
    async with services.db.session() as session:
        from storage.models import Conversation

        (await session.get(Conversation, conv.id)).last_inbound_at = clock()
        await session.commit()
    await box.send_due()
    assert (await message(services, mid)).status == "sent"
    assert fake_twilio.bodies() == ["Berkas Bapak/Ibu sudah diverifikasi."]


async def test_outside_window_uses_the_notification_template(make_services, fake_twilio):
    services = await make_services(templates={"notification": {
        "content_sid": NOTIFY_SID, "variables": {"1": "{office_name}", "2": "{text}"}}})
    clock = FakeClock()
    await queue(services, "whatsapp", USER, "Jadwal manasik: Sabtu 08.00.",
                last_inbound_at=clock() - timedelta(days=3))
    await outbox(services, clock).send_due()
    [created] = fake_twilio.created
    assert created.one("ContentSid") == NOTIFY_SID and created.one("Body") is None
    variables = json.loads(created.one("ContentVariables"))
    assert variables == {"1": services.settings.config.office.name, "2": "Jadwal manasik: Sabtu 08.00."}


async def test_quick_reply_template_for_three_choices(make_services, fake_twilio):
    services = await make_services(templates={"quick_reply_3": {
        "content_sid": QUICK3_SID, "variables": {"1": "{text}", "2": "{choice1}", "3": "{choice2}",
                                                 "4": "{choice3}"}}})
    await queue(services, "whatsapp", USER, "Lanjutkan?", choices=["Ya", "Tidak", "Petugas"])
    await queue(services, "whatsapp", USER, "Pilih:", choices=["A", "B"])  # no 2-button template: a list
    await outbox(services, FakeClock()).drain()
    first, second = fake_twilio.created
    assert first.one("ContentSid") == QUICK3_SID
    assert json.loads(first.one("ContentVariables")) == {"1": "Lanjutkan?", "2": "Ya", "3": "Tidak", "4": "Petugas"}
    assert second.one("Body").endswith("Balas 1 atau 2.")


async def test_attachment_goes_as_media_url(services, fake_twilio):
    stored = (await services.files.put(JPEG, "jadwal.jpg")).to_json()
    await queue(services, "whatsapp", USER, "Jadwal terlampir.", attachments=[stored])
    await outbox(services, FakeClock()).send_due()
    media, text = fake_twilio.created
    [url] = media.params["MediaUrl"]
    assert url.startswith("https://haji.example.go.id/whatsapp/media/" + stored["sha256"] + "/")
    assert text.one("Body") == "Jadwal terlampir."


async def test_429_then_success_delivers_once(services, fake_twilio):
    clock = FakeClock()
    box = outbox(services, clock)
    [mid] = await queue(services, "whatsapp", USER, "Halo")
    fake_twilio.fail_next(429, 20429, "Too Many Requests")
    await box.send_due()
    row = await message(services, mid)
    assert row.status == "pending" and "429" in row.error
    clock.advance((row.next_attempt_at - clock()).total_seconds())
    await box.send_due()
    await box.send_due()
    assert fake_twilio.bodies() == ["Halo"] and fake_twilio.attempts == 2
    assert (await message(services, mid)).status == "sent"


async def test_server_error_is_retried(services, fake_twilio):
    clock = FakeClock()
    box = outbox(services, clock)
    [mid] = await queue(services, "whatsapp", USER, "Halo")
    fake_twilio.fail_next(503, 20500, "Service Unavailable")
    await box.send_due()
    clock.advance(60)
    await box.send_due()
    assert (await message(services, mid)).status == "sent"


async def test_invalid_number_is_marked_and_not_retried(services, fake_twilio):
    clock = FakeClock()
    box = outbox(services, clock)
    first, second = await queue(services, "whatsapp", USER, "Satu", "Dua")
    fake_twilio.fail_next(400, 21211, "The 'To' number whatsapp:+6281234567890 is not a valid phone number.")
    await box.send_due()
    clock.advance(3600)
    await box.drain()
    assert (await message(services, first)).status == "failed"
    assert (await message(services, second)).error.startswith("blocked")
    assert (await conversation(services, "whatsapp", USER)).blocked
    assert fake_twilio.attempts == 1


async def test_outside_window_error_from_twilio_is_undeliverable(services, fake_twilio):
    [mid] = await queue(services, "whatsapp", USER, "Halo")
    fake_twilio.fail_next(400, 63016, "Failed to send freeform message because you are outside the allowed window.")
    await outbox(services, FakeClock()).send_due()
    assert (await message(services, mid)).status == "undeliverable"


async def test_per_sender_mps(make_services, fake_twilio):
    services = await make_services(messages_per_second=2)
    clock = FakeClock()
    box = outbox(services, clock)
    for i in range(5):
        await queue(services, "whatsapp", f"whatsapp:+62812000000{i}", f"pesan {i}")
    assert await box.drain() == 2
    clock.advance(0.5)
    assert await box.drain() == 1
    clock.advance(1)
    assert await box.drain() == 2
    assert len(fake_twilio.created) == 5


async def test_long_text_is_split_at_1600(services, fake_twilio):
    text = ("teks panjang " * 200).strip()
    await queue(services, "whatsapp", USER, text)
    await outbox(services, FakeClock()).send_due()
    bodies = fake_twilio.bodies()
    assert len(bodies) == 2 and all(len(b) <= 1600 for b in bodies) and " ".join(bodies) == text


async def test_long_choice_labels_fall_back_to_the_numbered_list(make_services, fake_twilio):
    services = await make_services(templates={"quick_reply_2": {
        "content_sid": QUICK3_SID, "variables": {"1": "{text}", "2": "{choice1}", "3": "{choice2}"}}})
    await queue(services, "whatsapp", USER, "Pilih:", choices=["Cek nomor porsi & estimasi", "Pembatalan porsi"])
    await outbox(services, FakeClock()).send_due()
    [created] = fake_twilio.created
    assert created.one("ContentSid") is None and created.one("Body").endswith("Balas 1 atau 2.")


async def test_send_template_for_other_purposes(make_services, fake_twilio):
    services = await make_services(templates={"broadcast": {
        "content_sid": NOTIFY_SID, "variables": {"1": "{name}", "2": "{text}"}}})
    [mid] = await queue(services, "whatsapp", USER, "Manasik hari Sabtu.")
    sender = services.channels["whatsapp"].sender
    conv = await conversation(services, "whatsapp", USER)
    result = await sender.send_template(conv, await message(services, mid), "broadcast")
    assert result.ok and result.provider_message_id.startswith("SM")
    assert json.loads(fake_twilio.created[0].one("ContentVariables")) == {"1": "Siti", "2": "Manasik hari Sabtu."}
    missing = await sender.send_template(conv, await message(services, mid), "pengingat")
    assert missing.undeliverable and not missing.ok


async def test_only_recent_undeliverable_messages_are_requeued(services):
    from storage.models import Message

    clock = FakeClock()
    old, recent = await queue(services, "whatsapp", USER, "lama", "baru", status="undeliverable")
    async with services.db.session() as session:
        (await session.get(Message, old)).created_at = clock() - timedelta(days=8)
        await session.commit()
    conv = await conversation(services, "whatsapp", USER)
    await mark_reachable(services.db, conv.id, now=clock())
    assert (await message(services, old)).status == "undeliverable"
    assert (await message(services, recent)).status == "pending"
