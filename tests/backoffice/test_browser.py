"""The back office in a real browser (Debian's Chromium through Playwright), against a real server:
log in, open a submitted case, reject a document, see the bot's request in the pilgrim's web chat, resend it,
approve the case, take over a live chat and reply."""
from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import pytest
from playwright.async_api import Page, expect
from sqlalchemy import select

from bot.channels.webchat_session import COOKIE_NAME
from storage.models import CaseDocument, Conversation
from tests.backoffice.conftest import ADMIN_PASSWORD, PILGRIM_USER, png_bytes

pytestmark = pytest.mark.browser
SHOTS = Path(os.environ.get("HAJIBOT_SCREENSHOTS") or Path(tempfile.gettempdir()) / "hajibot-backoffice-shots")


async def open_webchat(browser, base: str, services, user_id: str) -> Page:
    """The pilgrim's browser, holding the session cookie of `user_id`'s conversation (signed by the server)."""
    context = await browser.new_context(viewport={"width": 420, "height": 800})
    await context.add_cookies([{"name": COOKIE_NAME, "value": services.channels["webchat"].sessions.sign(user_id),
                                "domain": "127.0.0.1", "path": "/webchat", "httpOnly": True, "sameSite": "Lax"}])
    page = await context.new_page()
    await page.goto(f"{base}/webchat")
    return page


async def staff_login(browser, base: str) -> Page:
    page = await (await browser.new_context(viewport={"width": 1280, "height": 900})).new_page()
    await page.goto(f"{base}/backoffice/cases")
    await expect(page).to_have_url(re.compile(r"/backoffice/login\?next="))
    await page.fill("input[name=username]", "admin")
    await page.fill("input[name=password]", ADMIN_PASSWORD)
    await page.click("button:has-text('Masuk')")
    await expect(page.locator("h1")).to_have_text("Antrean kasus")
    return page


async def test_review_case_and_live_chat(live_server, browser, admin_id, seeded, demo_services, tmp_path):
    staff = await staff_login(browser, live_server)
    pilgrim = await open_webchat(browser, live_server, demo_services, PILGRIM_USER)

    # open the submitted case from the queue
    await staff.click(f"text={seeded.ticket}")
    await expect(staff.locator("h1")).to_contain_text(seeded.ticket)
    await expect(staff.locator("h1 .badge")).to_have_text("Diajukan")
    image_doc = staff.locator(f"#doc-{seeded.document_ids[0]}")
    await expect(image_doc.locator("img")).to_be_visible()
    assert await image_doc.locator("img").evaluate("img => img.naturalWidth") > 0  # preview really loads

    # reject the KTP photo with a reason
    await image_doc.locator("input[name=reason]").fill("Foto KTP terpotong, mohon foto seluruh kartu")
    await image_doc.locator("button:has-text('Tolak')").click()
    await expect(staff.locator(".flash.ok")).to_contain_text("Dokumen ditolak")
    await expect(staff.locator("h1 .badge")).to_have_text("Diperiksa")

    # the bot's request arrives in the pilgrim's web chat (polling)
    await expect(pilgrim.locator("#log .msg.bot").filter(has_text="terpotong")).to_be_visible(timeout=15_000)

    # the pilgrim sends the photo again
    photo = tmp_path / "ktp-baru.png"
    photo.write_bytes(png_bytes("KTP baru", (1100, 700)))
    bot_count = await pilgrim.locator("#log .msg.bot").count()
    await pilgrim.set_input_files("#file", str(photo))
    await expect(pilgrim.locator("#log .msg.bot")).to_have_count(bot_count + 1, timeout=15_000)
    async with demo_services.db.session() as s:
        docs = (await s.execute(select(CaseDocument).where(CaseDocument.case_id == seeded.case_id,
                                                           CaseDocument.item_key == "ktp_jemaah")
                                .order_by(CaseDocument.id))).scalars().all()
    assert [d.status for d in docs] == ["replaced", "received"]

    # staff see the new file, accept it and approve the case
    await staff.reload()
    new_doc = staff.locator(f"#doc-{docs[1].id}")
    await expect(new_doc).to_be_visible()
    await new_doc.locator("button:has-text('Terima')").click()
    await expect(staff.locator(".flash.ok")).to_contain_text("Dokumen diterima")
    await staff.click("button:has-text('Setujui')")
    await expect(staff.locator("h1 .badge")).to_have_text("Disetujui")
    await expect(pilgrim.locator("#log .msg.bot").filter(has_text="disetujui")).to_be_visible(timeout=15_000)
    SHOTS.mkdir(exist_ok=True)
    await staff.screenshot(path=str(SHOTS / "case.png"), full_page=True)

    # live chat: the inbox is open when the pilgrim asks for a person; the row appears without reload
    await staff.goto(f"{live_server}/backoffice/inbox")
    await expect(staff.locator("#inbox tbody tr.empty")).to_be_visible()
    await pilgrim.fill("#text", "saya mau bicara dengan petugas")
    await pilgrim.press("#text", "Enter")
    async with demo_services.db.session() as s:
        conv = (await s.execute(select(Conversation).where(Conversation.channel_user_id == PILGRIM_USER))
                ).scalar_one()
    row = staff.locator(f"#inbox tr[data-id='{conv.id}']")
    await expect(row).to_be_visible(timeout=15_000)
    await expect(row).to_contain_text("Menunggu petugas")
    # the pilgrim's name and what the pilgrim wrote (not the bot's automatic answer)
    await expect(row.locator("td").first).to_have_text("Ahmad")
    await expect(row.locator("td").last).to_have_text("saya mau bicara dengan petugas")
    await row.locator("a").click()
    await staff.click("button:has-text('Ambil alih')")
    await expect(staff.locator("#conv-mode")).to_have_text("Dilayani petugas")
    await expect(pilgrim.locator("#log .msg.bot").filter(has_text="dilayani oleh petugas")).to_be_visible(
        timeout=15_000)

    await staff.fill("#replyform textarea", "Assalamualaikum, berkas Bapak sudah lengkap dan disetujui.")
    await staff.click("#replyform button")
    await expect(staff.locator("#transcript .msg.staff").filter(has_text="sudah lengkap")).to_be_visible()
    await expect(pilgrim.locator("#log .msg.bot").filter(has_text="sudah lengkap")).to_be_visible(timeout=15_000)

    # the pilgrim answers; the message appears in the staff page without reload
    await pilgrim.fill("#text", "Terima kasih banyak, Pak")
    await pilgrim.press("#text", "Enter")
    await expect(staff.locator("#transcript .msg.in").filter(has_text="Terima kasih banyak")).to_be_visible(
        timeout=15_000)
    await staff.screenshot(path=str(SHOTS / "conversation.png"), full_page=True)

    await staff.click("button:has-text('Kembalikan ke bot')")
    await expect(staff.locator(".flash.ok")).to_contain_text("dikembalikan ke bot")
    await expect(pilgrim.locator("#log .msg.bot").filter(has_text="asisten otomatis")).to_be_visible(timeout=15_000)


async def test_phone_layout_and_login_required(live_server, browser, admin_id, seeded):
    context = await browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = await context.new_page()
    response = await page.goto(f"{live_server}/backoffice/documents/{seeded.document_ids[0]}")
    assert "/backoffice/login" in page.url and response.headers.get("content-type", "").startswith("text/html")
    await page.fill("input[name=username]", "admin")
    await page.fill("input[name=password]", ADMIN_PASSWORD)
    await page.click("button:has-text('Masuk')")
    await expect(page).to_have_url(re.compile(rf"/backoffice/documents/{seeded.document_ids[0]}$"))
    await page.goto(f"{live_server}/backoffice/cases")
    await expect(page.locator("nav")).to_be_hidden()
    await page.click("label.navbtn")
    await expect(page.locator("nav a:has-text('Kotak masuk')")).to_be_visible()
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 400  # no sideways scrolling on a phone
