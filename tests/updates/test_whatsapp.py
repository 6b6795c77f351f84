"""Personal updates on WhatsApp through the real outbox and the fake Twilio server: free-form inside the
24-hour window, the approved 'pilgrim_update' template outside it ('notification' when that one is missing)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from bot.updates import service
from bot.updates.sender import UpdateSender
from tests.channels.conftest import channel_settings, fake_telegram, fake_twilio  # noqa: F401 - fixtures
from tests.updates.conftest import BASE, changed, do_import, fast_updates, registry_csv, verified_chat

UPDATE_SID = "HX" + "c" * 32
NOTIFICATION_SID = "HX" + "d" * 32


async def tell(services: Any) -> None:
    """Import a change of pilgrim 1 (berhak lunas), confirm it, hand it to the outbox and send."""
    report = await do_import(services.db, registry_csv(changed(p1=("berhak lunas", 2026))))
    async with services.db.session() as session:
        await service.confirm(session, report.import_id, "cli", services.settings.config.broadcast, admin=True,
                              expected_total=2, channels=list(services.channels))
    sender = UpdateSender(services.db, services.engine, list(services.channels), fast_updates(),
                          services.settings.config.broadcast)
    assert await sender.step() == 2
    assert await services.outbox.drain() == 2


async def two_chats(services: Any) -> None:
    await do_import(services.db, registry_csv(BASE))
    now = datetime.now(timezone.utc)
    await verified_chat(services.db, "0300000001", channel="whatsapp", user="whatsapp:+6281100001",
                        last_inbound_at=now - timedelta(hours=2))
    await verified_chat(services.db, "0300000001", channel="whatsapp", user="whatsapp:+6281100002",
                        last_inbound_at=now - timedelta(days=3))


async def test_outside_the_window_the_pilgrim_update_template_is_used(channel_settings, fake_twilio):  # noqa: F811
    from bot.services import build_services

    services = await build_services(channel_settings(whatsapp={"templates": {
        "pilgrim_update": {"content_sid": UPDATE_SID, "variables": {"1": "{text}"}},
        "notification": {"content_sid": NOTIFICATION_SID, "variables": {"1": "{text}"}}}}))
    try:
        await two_chats(services)
        await tell(services)
        by_to = {c.one("To"): c for c in fake_twilio.created}
        inside, outside = by_to["whatsapp:+6281100001"], by_to["whatsapp:+6281100002"]
        assert "BERHAK LUNAS" in inside.one("Body") and inside.one("ContentSid") is None
        assert outside.one("ContentSid") == UPDATE_SID
        assert "BERHAK LUNAS" in outside.one("ContentVariables")
    finally:
        await services.close()


async def test_without_its_own_template_the_notification_template_is_used(channel_settings, fake_twilio):  # noqa: F811
    from bot.services import build_services

    services = await build_services(channel_settings(whatsapp={"templates": {
        "notification": {"content_sid": NOTIFICATION_SID, "variables": {"1": "{text}"}}}}))
    try:
        await two_chats(services)
        await tell(services)
        outside = {c.one("To"): c for c in fake_twilio.created}["whatsapp:+6281100002"]
        assert outside.one("ContentSid") == NOTIFICATION_SID
    finally:
        await services.close()
