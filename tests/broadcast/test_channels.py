"""The fan-out through the real channel plug-ins against the fake Telegram and Twilio servers: Telegram 429 with
retry_after and a blocked user; WhatsApp free-form inside the 24-hour window, the broadcast template outside."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import select

from bot.broadcast import service
from bot.broadcast.audience import Segment
from bot.broadcast.worker import BroadcastWorker
from storage.broadcast_models import BroadcastDelivery
from storage.models import Conversation
from tests.broadcast.conftest import add_chats, fast_settings
from tests.channels.conftest import channel_settings, fake_telegram, fake_twilio  # noqa: F401 - fixtures

BROADCAST_SID = "HX" + "b" * 32


async def build(channel_settings: Any, **whatsapp: Any) -> Any:  # noqa: F811
    from bot.services import build_services

    return await build_services(channel_settings(whatsapp=whatsapp))


async def run(services: Any, text: str = "Info {nama}") -> tuple[int, dict[str, int]]:
    async with services.db.session() as s:
        b = await service.create(s, title="t", text=text, segment=Segment(), actor="cli")
        await service.submit(s, b.id, "cli", require_approval=False, admin=True)
    worker = BroadcastWorker(services.db, services.channels, fast_settings(poll_seconds=0.01))
    await worker.run(until_idle=True)
    async with services.db.session() as s:
        return b.id, (await service.progress(s, b.id)).by_state


async def test_telegram_429_and_blocked(channel_settings, fake_telegram):  # noqa: F811
    services = await build(channel_settings)
    try:
        for i in range(1, 4):
            await add_chats(services.db, 1, start=1000 + i)
        async with services.db.session() as s:  # Telegram chat ids are numbers
            for conv in (await s.execute(select(Conversation))).scalars():
                conv.channel_user_id = conv.channel_user_id.lstrip("u")
            await s.commit()
        fake_telegram.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
        fake_telegram.fail_next("sendMessage", 403, "Forbidden: bot was blocked by the user")
        bid, states = await run(services)
        assert states == {"sent": 2, "failed": 1}
        calls = [c.params["chat_id"] for c in fake_telegram.calls if c.method == "sendMessage"]
        assert len(calls) == 4 and calls.count(calls[0]) == 2  # 429, 403, one success, the 429 one again
        async with services.db.session() as s:
            rows = (await s.execute(select(BroadcastDelivery).order_by(BroadcastDelivery.id))).scalars().all()
            blocked = [r for r in rows if r.status == "failed"]
            assert blocked[0].error.startswith("blocked")
            assert (await s.get(Conversation, blocked[0].conversation_id)).blocked
        assert all(t.endswith("Balas STOP untuk berhenti menerima pengumuman.") for t in fake_telegram.texts())
    finally:
        await services.close()


async def test_whatsapp_window_and_broadcast_template(channel_settings, fake_twilio):  # noqa: F811
    services = await build(channel_settings, templates={"broadcast": {
        "content_sid": BROADCAST_SID, "variables": {"1": "{text}"}}})
    try:
        now = datetime.now(timezone.utc)
        await add_chats(services.db, 1, channel="whatsapp", last_inbound_at=now - timedelta(hours=1))
        await add_chats(services.db, 1, channel="whatsapp", start=2, last_inbound_at=now - timedelta(days=3))
        async with services.db.session() as s:
            for conv in (await s.execute(select(Conversation))).scalars():
                conv.channel_user_id = f"whatsapp:+62811000{conv.id}"
            await s.commit()
        _, states = await run(services, "Info pelunasan untuk {nama}")
        assert states == {"sent": 2}
        by_to = {c.one("To"): c for c in fake_twilio.created}
        inside, outside = by_to["whatsapp:+628110001"], by_to["whatsapp:+628110002"]
        assert inside.one("Body").startswith("Info pelunasan untuk Pengguna 1")
        assert outside.one("ContentSid") == BROADCAST_SID and "Pengguna 2" in outside.one("ContentVariables")
    finally:
        await services.close()


async def test_whatsapp_outside_window_without_template_fails(channel_settings, fake_twilio):  # noqa: F811
    services = await build(channel_settings)
    try:
        await add_chats(services.db, 1, channel="whatsapp")
        _, states = await run(services)
        assert states == {"failed": 1} and fake_twilio.created == []
        async with services.db.session() as s:
            [row] = (await s.execute(select(BroadcastDelivery))).scalars().all()
        assert row.attempts == 1 and "no 'broadcast' WhatsApp template configured" in row.error
    finally:
        await services.close()


async def test_telegram_attachment_then_text(channel_settings, fake_telegram):  # noqa: F811
    from tests.backoffice.conftest import png_bytes

    services = await build(channel_settings)
    try:
        await add_chats(services.db, 1, start=5001)
        async with services.db.session() as s:
            conv = await s.get(Conversation, 1)
            conv.channel_user_id = "5001"
            await s.commit()
        stored = await services.files.put(png_bytes("JADWAL"), "jadwal.png")
        async with services.db.session() as s:
            b = await service.create(s, title="t", text="Jadwal manasik terlampir.", segment=Segment(), actor="cli",
                                     attachment=stored.to_json())
            await service.submit(s, b.id, "cli", require_approval=False, admin=True)
        await BroadcastWorker(services.db, services.channels, fast_settings(poll_seconds=0.01)).run(until_idle=True)
        methods = [c.method for c in fake_telegram.calls]
        assert methods == ["sendPhoto", "sendMessage"]
        assert fake_telegram.calls[1].params["text"].startswith("Jadwal manasik terlampir.")
    finally:
        await services.close()
