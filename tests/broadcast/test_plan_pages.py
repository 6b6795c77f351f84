"""The officer sees how long a broadcast will take before sending it: the confirmation page (through the app, and
in Chromium) shows the duration, the WhatsApp tier and, when the audience exceeds it, the day batches; the
broadcast's page shows the stored plan once sending started."""
from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import expect

from bot.broadcast import service
from bot.broadcast.audience import Segment
from tests.backoffice.conftest import (  # noqa: F401 (fixtures)
    ADMIN_PASSWORD, add_staff, admin_id, browser, live_server, login,
)
from tests.broadcast.conftest import add_chats

PASSWORD = "Rahasia-Sekali-123"


@pytest.fixture
async def tier_client(make_settings: Any, aiohttp_client: Any) -> Any:
    from bot.app import create_app
    from bot.services import build_services

    settings = make_settings({"broadcast": {"worker_enabled": False},
                              "channels": {"whatsapp": {"messaging_tier": 250, "messages_per_second": 80}}})
    services = await build_services(settings)
    client = await aiohttp_client(create_app(services))
    client.services = services
    return client


async def draft(services: Any, segment: Segment) -> int:
    async with services.db.session() as session:
        b = await service.create(session, title="Pelunasan", text="Yth. {nama}, pelunasan dibuka.",
                                 segment=segment, actor="staff:admin")
        return b.id


def text_of(html: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}"[^>]*>(.*?)</', html, re.S)
    assert match, element_id
    return " ".join(match.group(1).split())


async def test_confirmation_page_shows_duration_and_days(tier_client: Any) -> None:
    services = tier_client.services
    await add_chats(services.db, 300, channel="telegram", start=1)
    await add_chats(services.db, 260, channel="whatsapp", start=1000)  # never wrote: all outside the window
    await add_staff(services, "admin", "admin", PASSWORD)
    await login(tier_client, "admin", PASSWORD)

    telegram_only = await draft(services, Segment(channels=["telegram"]))
    html = await (await tier_client.get(f"/backoffice/broadcasts/{telegram_only}/confirm?action=submit")).text()
    assert text_of(html, "plan-duration") == "sekitar 10 detik"  # 300 at Telegram's 30 per second
    assert "300 penerima · 30 pesan/detik · 10 detik" in html and 'id="plan-days"' not in html

    both = await draft(services, Segment())
    html = await (await tier_client.get(f"/backoffice/broadcasts/{both}/confirm?action=submit")).text()
    assert 'data-total="560"' in html and 'data-days="2"' in html
    assert text_of(html, "plan-duration") == "sekitar 1 hari"
    assert "dibagi menjadi 2 hari" in text_of(html, "plan-days")
    assert "Batas WhatsApp nomor kantor: 250 orang per 24 jam" in html and "tersisa sekarang: 250" in html
    rows = re.findall(r"<tr><th>(Hari ke-\d)</th><td>[^<]+</td><td>([\d.]+)</td><td>([\d.]+)</td></tr>", html)
    assert rows == [("Hari ke-1", "550", "250"), ("Hari ke-2", "10", "10")]
    assert text_of(html, "plan-finish").startswith("Selesai sekitar ")


async def test_broadcast_page_shows_the_stored_plan(tier_client: Any) -> None:
    from bot.broadcast.tier import limits_for
    from bot.broadcast.worker import BroadcastWorker
    from tests.broadcast.conftest import FakeChannel, FakeClock, fast_settings

    services = tier_client.services
    await add_chats(services.db, 255, channel="whatsapp", start=1)
    await add_staff(services, "admin", "admin", PASSWORD)
    await login(tier_client, "admin", PASSWORD)
    bid = await draft(services, Segment())
    async with services.db.session() as session:
        await service.submit(session, bid, "staff:admin", True, admin=True)
    wa, clock = FakeChannel("whatsapp"), FakeClock()
    clock.now = service.now_utc()
    worker = BroadcastWorker(services.db, {"whatsapp": wa}, fast_settings(), clock=clock,
                             limits=limits_for(services.settings.config))
    for _ in range(10):  # WhatsApp's 80 per second
        await worker.step()
        clock.advance(1)
    assert len(wa.sends) == 250
    html = await (await tier_client.get(f"/backoffice/broadcasts/{bid}")).text()
    assert "dibagi menjadi 2 hari" in html and "Berjalan" in html
    assert re.findall(r"<tr><th>Hari ke-2</th><td>[^<]+</td><td>([\d.]+)</td>", html) == ["5"]


@pytest.mark.browser
async def test_officer_sees_how_long_it_takes_in_chromium(live_server, browser, admin_id, demo_services):
    await add_chats(demo_services.db, 260, channel="whatsapp", start=5000)
    await add_chats(demo_services.db, 4, channel="telegram", start=6000)
    page = await (await browser.new_context(viewport={"width": 1280, "height": 1000})).new_page()
    await page.goto(f"{live_server}/backoffice/login")
    await page.fill("input[name=username]", "admin")
    await page.fill("input[name=password]", ADMIN_PASSWORD)
    await page.click("button:has-text('Masuk')")
    await page.goto(f"{live_server}/backoffice/broadcasts/new")
    await page.fill("input[name=title]", "Jadwal manasik")
    await page.fill("textarea[name=text]", "Yth. {nama}, manasik dimulai pekan depan.")
    await page.click("button[value=save]")
    await page.click("button:has-text('Kirim / jadwalkan')")
    await expect(page.locator("#audience-total")).to_have_text("264 penerima")
    await expect(page.locator("#plan-duration")).to_have_text("sekitar 1 hari")
    await expect(page.locator("#plan-days")).to_contain_text("dibagi menjadi 2 hari")
    await expect(page.locator("#plan-batches tbody tr")).to_have_count(2)
    await expect(page.locator("#plan-batches tbody tr").nth(1)).to_contain_text("10")
    await page.screenshot(path=str(live_server_screenshot()), full_page=True)
    await page.click("button:has-text('Ya, kirim ke 264 penerima')")
    await expect(page.locator("#plan")).to_contain_text("Hari ke-2")


def live_server_screenshot() -> Any:
    import os
    import tempfile
    from pathlib import Path

    return Path(os.environ.get("HAJIBOT_SCREENSHOT_DIR", tempfile.gettempdir())) / "broadcast-plan.png"
