"""Hostile requests that used to stall every conversation: over-long messages on each channel, an
over-size body, concurrent wrong staff logins, a hostile registry CSV. Each test checks the answer (polite,
or a clear 4xx), that nothing is stored half-way, and that /healthz stays responsive meanwhile (generous
bound; bench/abuse.py measures the 100 ms target)."""
from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
from sqlalchemy import func, select

from bot.core.inbound import InboundMessage
from bot.core.pipeline import MAX_DIALOGUE_TEXT
from storage.models import AuditLog, Conversation, Message, Pilgrim
from tests.backoffice.conftest import ADMIN_PASSWORD, admin_id, csrf_from, login  # noqa: F401 - fixtures
from tests.channels import fake_telegram as tg
from tests.conftest import chat_cookies
from tests.channels.conftest import (  # noqa: F401 - fixtures
    TELEGRAM_SECRET, channel_client, channel_services, channel_settings, fake_telegram, fake_twilio, wait_until,
)
from tests.channels.fake_twilio import inbound_params, signed
from tests.security.loop_probe import STALL_LIMIT, healthz_probe

PUBLIC = "https://haji.example.go.id"
RAMBLING = "assalamualaikum pak, ambo mau tanya soal porsi haji ibu ambo yang alah lamo mandaftar, gmn caronyo "
ONE_MB = (RAMBLING * 12_000)[:1_000_000]


async def stored_messages(services: Any, channel: str) -> list[Message]:
    async with services.db.session() as s:
        return list((await s.execute(select(Message).where(Message.channel == channel))).scalars().all())


async def test_megabyte_web_chat_message_does_not_stall_other_pilgrims(client: Any, demo_services: Any) -> None:
    async with healthz_probe(client) as probe:
        long = asyncio.create_task(client.post("/webchat/messages", json={"text": ONE_MB},
                                               cookies=chat_cookies(client, "penyerang")))
        other = await client.post("/webchat/messages", json={"text": "assalamualaikum"},
                                  cookies=chat_cookies(client, "jemaah-1"))
        assert other.status == 200 and (await other.json())["messages"]
        response = await long
        body = await response.json()
    assert probe.failures == 0 and probe.worst < STALL_LIMIT, probe.worst
    inbound = [m for m in await stored_messages(demo_services, "webchat") if m.direction == "in"]
    if response.status == 200:  # accepted: stored whole, processed, answered
        assert body["messages"]
        assert all(m.status == "processed" for m in inbound)
    else:  # refused with a clear error: nothing of it stored
        assert response.status in (400, 413) and body.get("error")
        assert all(len(m.text or "") < 10_000 for m in inbound)


async def test_dialogue_sees_a_bounded_text_whatever_the_channel_lets_through(demo_services: Any) -> None:
    """The pipeline caps what the opt-out check and the phrase matching read, so even 1 MB that some
    channel accepted costs milliseconds; the message itself is stored whole."""
    started = time.perf_counter()
    result = await demo_services.pipeline.handle(InboundMessage(channel="console", user_id="u-long", text=ONE_MB),
                                                 deliver=True)
    elapsed = time.perf_counter() - started
    assert result.replies and elapsed < STALL_LIMIT, elapsed
    async with demo_services.db.session() as s:
        stored = await s.get(Message, result.message_id)
    assert stored is not None and len(stored.text) == len(ONE_MB) and stored.status == "processed"
    assert MAX_DIALOGUE_TEXT <= 4096


async def test_telegram_over_long_text_is_refused_politely(channel_client: Any, channel_services: Any,
                                                           fake_telegram: Any) -> None:
    update = tg.text_update(990001, 4242, RAMBLING * 60)  # ~6,000 characters: more than Telegram allows
    async with healthz_probe(channel_client) as probe:
        r = await channel_client.post("/telegram/webhook", json=update,
                                      headers={"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET})
        assert r.status == 200
        await channel_services.channels["telegram"].wait_idle()
    assert probe.worst < STALL_LIMIT
    notice = fake_telegram.texts()[-1]
    assert "terlalu panjang" in notice and "4.096" in notice
    assert await stored_messages(channel_services, "telegram") == []


async def test_telegram_body_over_the_route_limit_is_refused(channel_client: Any, channel_services: Any) -> None:
    update = tg.text_update(990002, 4243, ONE_MB * 2)
    r = await channel_client.post("/telegram/webhook", json=update,
                                  headers={"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET})
    assert r.status in (400, 413)

    async def chunked() -> Any:  # no Content-Length: refused while reading
        yield b'{"update_id": 990003, "message": {"text": "'
        for _ in range(3):
            yield b"a" * 1_000_000
        yield b'"}}'

    r = await channel_client.post("/telegram/webhook", data=chunked(),
                                  headers={"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET,
                                           "Content-Type": "application/json"})
    assert 400 <= r.status < 500
    assert await stored_messages(channel_services, "telegram") == []


async def test_whatsapp_over_long_body_is_refused_politely(channel_client: Any, channel_services: Any,
                                                           fake_twilio: Any) -> None:
    params = inbound_params(RAMBLING * 60, "SM" + "e" * 32)  # ~6,000 characters; Twilio allows 1,600
    async with healthz_probe(channel_client) as probe:
        r = await channel_client.post("/whatsapp/webhook", data=params,
                                      headers=signed(PUBLIC + "/whatsapp/webhook", params))
        assert r.status == 200 and "<Response" in await r.text()
        await channel_services.channels["whatsapp"].wait_idle()
    assert probe.worst < STALL_LIMIT
    await wait_until(lambda: bool(fake_twilio.bodies()))
    assert "terlalu panjang" in fake_twilio.bodies()[-1]
    assert await stored_messages(channel_services, "whatsapp") == []
    huge = inbound_params(ONE_MB, "SM" + "f" * 32)
    r = await channel_client.post("/whatsapp/webhook", data=huge, headers=signed(PUBLIC + "/whatsapp/webhook", huge))
    assert r.status == 413
    assert [m for m in await stored_messages(channel_services, "whatsapp") if m.direction == "in"] == []


async def test_whatsapp_text_within_the_limit_is_still_answered(channel_client: Any, channel_services: Any,
                                                                fake_twilio: Any) -> None:
    params = inbound_params((RAMBLING * 20)[:1600], "SM" + "d" * 32)
    r = await channel_client.post("/whatsapp/webhook", data=params,
                                  headers=signed(PUBLIC + "/whatsapp/webhook", params))
    assert r.status == 200
    await channel_services.channels["whatsapp"].wait_idle()
    inbound = [m for m in await stored_messages(channel_services, "whatsapp") if m.direction == "in"]
    assert len(inbound) == 1 and inbound[0].status == "processed"


async def test_concurrent_wrong_staff_logins_do_not_stall(client: Any, admin_id: int) -> None:  # noqa: F811
    """While ten wrong passwords are checked, the loop is never blocked for as long as one check takes."""
    from bot.backoffice.passwords import verify_password

    started = time.perf_counter()
    verify_password(None, "ukur-sekali")
    one_check = time.perf_counter() - started
    page = await client.get("/backoffice/login")
    token = csrf_from(await page.text())

    async def wrong(i: int) -> int:
        r = await client.post("/backoffice/login", data={"username": "admin", "password": f"tebakan-{i}",
                                                          "csrf_token": token}, allow_redirects=False)
        return r.status

    async with healthz_probe(client) as probe:
        statuses = await asyncio.gather(*(wrong(i) for i in range(10)))
    assert all(400 <= s < 500 for s in statuses), statuses  # refused (wrong password, or throttled)
    assert probe.worst < max(0.25, 0.8 * one_check), (probe.worst, one_check)


def registry_csv(rows: int) -> str:
    header = "nomor_porsi,nama,nik,tanggal_lahir,jenis_kelamin,kab_kota,provinsi,status,estimasi_tahun,bank,tanggal_daftar\n"
    return header + "".join(f"{1400000000 + i:010d},JEMAAH {i},{1375010101700000 + i:016d},1970-01-01,L,"
                            f"Kota Bukittinggi,Sumatera Barat,menunggu,2040,BSI,2015-01-01\n" for i in range(rows))


def upload(csrf: str, content: bytes) -> aiohttp.FormData:
    data = aiohttp.FormData()
    data.add_field("csrf_token", csrf)
    data.add_field("file", content, filename="registri.csv", content_type="text/csv")
    return data


async def test_registry_csv_is_parsed_off_the_loop(client: Any, admin_id: int, demo_services: Any) -> None:  # noqa: F811
    csrf = await login(client, "admin", ADMIN_PASSWORD)
    async with healthz_probe(client) as probe:
        r = await client.post("/backoffice/registry", data=upload(csrf, registry_csv(20_000).encode()))
        assert r.status == 200 and "<b>20000</b> diimpor" in await r.text()
    assert probe.worst < STALL_LIMIT, probe.worst
    async with demo_services.db.session() as s:
        assert (await s.execute(select(func.count(Pilgrim.id)).where(Pilgrim.nomor_porsi.like("14%")))).scalar_one() \
            == 20_000


async def test_hostile_registry_csv_gets_a_clear_error_and_imports_nothing(client: Any, admin_id: int,  # noqa: F811
                                                                           demo_services: Any) -> None:
    csrf = await login(client, "admin", ADMIN_PASSWORD)
    before = await _pilgrims(demo_services)
    giant_field = registry_csv(2).encode() + b'1400000009,"' + b"A" * 300_000 + b'",x\n'  # over csv's field limit
    for content in (giant_field, b"\xff\xfe\x00garbage", registry_csv(1).encode().replace(b",", b"\x00", 3)):
        r = await client.post("/backoffice/registry", data=upload(csrf, content))
        assert r.status == 200 and "tidak dapat dibaca" in await r.text()
    assert await _pilgrims(demo_services) == before
    async with demo_services.db.session() as s:
        assert (await s.execute(select(AuditLog).where(AuditLog.action == "registry.import"))).first() is None


async def _pilgrims(services: Any) -> int:
    async with services.db.session() as s:
        return int((await s.execute(select(func.count(Pilgrim.id)))).scalar_one())


async def test_conversation_count_unchanged_by_refused_requests(client: Any, demo_services: Any) -> None:
    """A refused body (over the web chat's route limit) creates no conversation and no message."""
    too_big = "x" * (40 * 1024 * 1024)
    r = await client.post("/webchat/messages", data=b'{"text": "' + too_big.encode() + b'"}',
                          headers={"Content-Type": "application/json"}, cookies=chat_cookies(client, "p"))
    assert r.status == 413
    async with demo_services.db.session() as s:
        assert (await s.execute(select(func.count(Conversation.id)))).scalar_one() == 0
