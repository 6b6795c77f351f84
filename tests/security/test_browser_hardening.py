"""In Chromium (Debian's, through Playwright) against a real server: sign-in throttling tells the officer
clearly to wait; a petugas's broadcast waits for a second officer, and both see the audience size before it
goes out."""
from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from tests.backoffice.conftest import (  # noqa: F401 (fixtures)
    ADMIN_PASSWORD, PETUGAS_PASSWORD, admin_id, browser, live_server, petugas_id,
)
from tests.broadcast.conftest import add_chats

pytestmark = pytest.mark.browser


async def sign_in(browser, base: str, username: str, password: str) -> Page:
    page = await (await browser.new_context(viewport={"width": 1280, "height": 900})).new_page()
    await page.goto(f"{base}/backoffice/login")
    await page.fill("input[name=username]", username)
    await page.fill("input[name=password]", password)
    await page.click("button:has-text('Masuk')")
    return page


async def test_sign_in_throttling_shows_a_clear_message(live_server, browser, admin_id):
    page = await (await browser.new_context()).new_page()
    await page.goto(f"{live_server}/backoffice/login")
    for n in range(5):
        await page.fill("input[name=username]", "admin")
        await page.fill("input[name=password]", f"tebakan-sandi-{n}")
        await page.click("button:has-text('Masuk')")
        await expect(page.locator("[role=alert]")).to_have_text("Nama pengguna atau kata sandi salah.")
    await page.fill("input[name=username]", "admin")
    await page.fill("input[name=password]", ADMIN_PASSWORD)
    await page.click("button:has-text('Masuk')")
    alert = page.locator("[role=alert]")
    await expect(alert).to_contain_text("Terlalu banyak percobaan")
    await expect(alert).to_contain_text(re.compile(r"Tunggu \d+ detik"))
    await expect(page.locator("input[name=username]")).to_be_visible()  # the form is still there to try again


async def test_petugas_cannot_send_alone_and_both_see_the_audience_size(live_server, browser, admin_id, petugas_id,
                                                                         demo_services):
    await add_chats(demo_services.db, 4, channel="webchat", start=200, linked=True, estimasi=2027)
    await add_chats(demo_services.db, 1, channel="webchat", start=300, linked=True, estimasi=2027, status="wafat")
    petugas = await sign_in(browser, live_server, "petugas", PETUGAS_PASSWORD)
    await petugas.goto(f"{live_server}/backoffice/broadcasts/new")
    await petugas.fill("input[name=title]", "Pemeriksaan kesehatan")
    await petugas.fill("textarea[name=text]", "Yth. {nama}, silakan periksa kesehatan di puskesmas terdekat.")
    await petugas.select_option("select[name=audience]", "linked")
    await petugas.fill("input[name=estimasi_from]", "2027")
    await petugas.fill("input[name=estimasi_to]", "2027")
    await petugas.click("button[value=save]")
    await petugas.click("button:has-text('Kirim / jadwalkan')")
    total = petugas.locator("#audience-total")
    await expect(total).to_have_text("4 penerima")  # the deceased pilgrim's chat is not counted
    await expect(petugas.locator("text=menunggu persetujuan petugas lain")).to_be_visible()
    await petugas.click("button:has-text('Ya, kirim ke 4 penerima')")
    await expect(petugas.locator(".casehead")).to_contain_text("Menunggu persetujuan")
    await expect(petugas.locator("button:has-text('Setujui')")).to_have_count(0)  # not her own
    url = petugas.url

    admin = await sign_in(browser, live_server, "admin", ADMIN_PASSWORD)
    await admin.goto(url)
    await admin.click("button:has-text('Setujui')")
    await expect(admin.locator("#audience-total")).to_have_text("4 penerima")
    await admin.click("button:has-text('Ya, setujui dan kirim ke 4 penerima')")
    await expect(admin.locator(".casehead")).not_to_contain_text("Menunggu persetujuan")
