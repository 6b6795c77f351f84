"""In Chromium against a real server: the pilgrim checks her porsi in the web chat (verified by birth date),
the admin uploads the new registry, opens the personal-update page from the import report, reads the counts
and the sample, confirms, and the message appears in the pilgrim's open web chat (the service's own sender
and the page's polling, nothing called by hand)."""
from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import pytest
from playwright.async_api import expect

from tests.backoffice.conftest import admin_id, browser, live_server  # noqa: F401 - fixtures
from tests.backoffice.test_browser import open_webchat, staff_login
from tests.updates.test_backoffice import DEMO, SITI_NEXT, SITI_NOW

pytestmark = pytest.mark.browser
SHOTS = Path(os.environ.get("HAJIBOT_SCREENSHOTS") or Path(tempfile.gettempdir()) / "hajibot-updates-shots")


async def say(page, text: str) -> None:  # type: ignore[no-untyped-def]
    before = await page.locator("#log .msg.bot").count()
    await page.fill("#text", text)
    await page.press("#text", "Enter")
    await expect(page.locator("#log .msg.bot")).not_to_have_count(before, timeout=15_000)


async def test_admin_confirms_and_pilgrim_reads_the_update(live_server, browser, admin_id, demo_services,  # noqa: F811
                                                           tmp_path):
    SHOTS.mkdir(parents=True, exist_ok=True)
    pilgrim = await open_webchat(browser, live_server, demo_services, "pilgrim-updates")
    await say(pilgrim, "cek porsi 0312345678")
    await say(pilgrim, "5 Juni 1960")
    await expect(pilgrim.locator("#log .msg.bot").filter(has_text="SITI")).to_have_count(1)

    staff = await staff_login(browser, live_server)
    await staff.click("nav >> text=Registri porsi")
    registry = tmp_path / "registri.csv"
    registry.write_text(DEMO.replace(SITI_NOW, SITI_NEXT), encoding="utf-8")
    await staff.set_input_files("input[name=file]", str(registry))
    await staff.click("button:has-text('Unggah dan periksa')")
    await expect(staff.locator("#updates")).to_contain_text("1 chat terverifikasi perlu dikabari")
    await staff.click("#updates a")
    await expect(staff.locator("h1")).to_contain_text("Kabar dari impor registri")
    await expect(staff.locator("#recipients-total")).to_have_attribute("data-total", "1")
    await expect(staff.locator("#changes")).to_contain_text("status menjadi berhak lunas: 1")
    await expect(staff.locator("#sample")).to_contain_text("BERHAK LUNAS")
    await staff.screenshot(path=str(SHOTS / "updates-preview.png"), full_page=True)
    await expect(pilgrim.locator("#log .msg.bot").filter(has_text="BERHAK LUNAS")).to_have_count(0)

    await staff.click("#confirm")
    await expect(staff.locator("#result")).to_contain_text("Kabar sedang dikirim")
    await expect(staff.locator("#batch-status")).not_to_have_text("menunggu konfirmasi")
    update = pilgrim.locator("#log .msg.bot").filter(has_text="BERHAK LUNAS")
    await expect(update).to_have_count(1, timeout=20_000)
    await expect(update).to_contain_text("2026")
    await pilgrim.screenshot(path=str(SHOTS / "updates-webchat.png"), full_page=True)

    await staff.reload()
    await expect(staff.locator("#batch-status")).to_have_text(re.compile("selesai|sedang dikirim"))
    await expect(staff.locator("#delivery")).to_be_visible()
    await staff.screenshot(path=str(SHOTS / "updates-summary.png"), full_page=True)
