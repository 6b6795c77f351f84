"""The web chat page in a real browser (Debian's Chromium through Playwright) at phone width, against a real
server: the session is the server's HttpOnly cookie, kept across a reload; another browser cannot read the
conversation; the history after a reload shows both sides; answered choice buttons are disabled; choices are
numbered and typing the number works; the attachment button is readable without emoji fonts."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from bot.channels.webchat_session import COOKIE_NAME
from tests.backoffice.conftest import browser, live_server  # noqa: F401 - fixtures

pytestmark = pytest.mark.browser
SHOTS = Path(os.environ.get("HAJIBOT_SCREENSHOTS") or Path(tempfile.gettempdir()) / "hajibot-webchat-shots")
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "device_scale_factor": 2}


async def say(page: Page, text: str) -> None:
    """Type a message and wait until the bot has answered it."""
    before = await page.locator("#log .msg.bot").count()
    await page.fill("#text", text)
    await page.press("#text", "Enter")
    await expect(page.locator("#log .msg.me").last).to_have_text(text)
    await expect(page.locator("#log .msg.me.pending")).to_have_count(0, timeout=15_000)
    assert await page.locator("#log .msg.bot").count() > before


async def test_webchat_session_history_choices_on_a_phone(live_server, browser, demo_services):  # noqa: F811
    context = await browser.new_context(**PHONE)
    page = await context.new_page()
    await page.goto(f"{live_server}/webchat")

    # the server issued the session: HttpOnly, SameSite, not readable by the page's scripts
    [cookie] = [c for c in await context.cookies() if c["name"] == COOKIE_NAME]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and cookie["path"] == "/webchat"
    assert COOKIE_NAME not in await page.evaluate("document.cookie")

    # the attachment button: a text label and an inline SVG icon, no emoji font needed
    attach = page.locator("#attach")
    await expect(attach).to_be_visible()
    await expect(attach).to_contain_text("Berkas")
    icon = await attach.locator("svg").bounding_box()
    assert icon and icon["width"] >= 16 and icon["height"] >= 16

    await say(page, "assalamualaikum pak")
    menu = page.locator("#log .choices").last
    await expect(menu.locator("button").first).to_have_text("1. Cek nomor porsi & estimasi")
    await expect(menu.locator("button").nth(1)).to_have_text("2. Pembatalan porsi")
    await expect(page.locator("#log .msg.bot").last).to_contain_text("ketik angka")

    # typing the number picks the numbered choice; the menu's buttons are spent
    await say(page, "1")
    await expect(page.locator("#log .msg.bot").last).to_contain_text("nomor porsi")
    await expect(menu.locator("button:disabled")).to_have_count(await menu.locator("button").count())
    await say(page, "menu")  # inside the porsi check: the bot asks whether to stop it
    rows = await page.locator("#log .choices").count()
    confirm = page.locator("#log .choices").nth(rows - 1)
    await expect(confirm.locator("button")).to_have_text(["1. Ya, hentikan", "2. Lanjut mengisi"])
    await confirm.locator("button", has_text="Ya, hentikan").click()
    await expect(confirm.locator("button:disabled")).to_have_count(2)
    await expect(page.locator("#log .choices")).to_have_count(rows + 1, timeout=15_000)
    menu = page.locator("#log .choices").nth(rows)
    await menu.locator("button", has_text="Info biaya").click()
    await expect(menu.locator("button.chosen")).to_be_disabled()
    await expect(page.locator("#log .msg.me").last).to_have_text("Info biaya, jadwal & kantor")
    await expect(page.locator("#log .msg.me.pending")).to_have_count(0, timeout=15_000)
    texts_before = await page.locator("#log .msg").all_inner_texts()

    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / "webchat-phone.png"))
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling

    # reload: same session, both sides of the conversation, answered buttons still disabled
    await page.reload()
    await expect(page.locator("#log .msg.me").first).to_have_text("assalamualaikum pak", timeout=10_000)
    assert await page.locator("#log .msg").all_inner_texts() == texts_before
    mine = await page.locator("#log .msg.me").all_inner_texts()
    assert mine == ["assalamualaikum pak", "1", "menu", "Ya, hentikan", "Info biaya, jadwal & kantor"]
    answered = await page.evaluate("""() => {
        const last = [...document.querySelectorAll('#log .msg.me')].pop();
        const rows = [...document.querySelectorAll('#log .choices')]
            .filter(r => r.compareDocumentPosition(last) & Node.DOCUMENT_POSITION_FOLLOWING);
        return {rows: rows.length, enabled: rows.flatMap(r => [...r.querySelectorAll('button')])
                                               .filter(b => !b.disabled).length};
    }""")
    assert answered == {"rows": 3, "enabled": 0}  # two menus and the yes/no were answered: none can be pressed
    await page.screenshot(path=str(SHOTS / "webchat-phone-reloaded.png"))

    # a second browser gets its own, empty conversation and cannot read the first one
    other_context = await browser.new_context(**PHONE)
    other = await other_context.new_page()
    await other.goto(f"{live_server}/webchat")
    await other.wait_for_timeout(500)
    assert await other.locator("#log .msg").count() == 0
    polled = await other.evaluate("fetch('/webchat/messages?after=0').then(r => r.json())")
    assert polled == {"messages": []}
    # ... not even by asking for the first browser's id or by copying a tampered cookie
    asked = await other.evaluate(f"fetch('/webchat/messages?user_id={cookie['value'].split('.')[0]}')"
                                 ".then(r => r.status)")
    assert asked == 400
    await other_context.add_cookies([{**cookie, "value": cookie["value"][:-2] + "xx"}])
    await other.reload()
    await other.wait_for_timeout(500)
    assert await other.locator("#log .msg").count() == 0
    await other_context.close()

    # a pasted text over the limit: the page shows the server's polite answer, nothing is stored
    await page.fill("#text", "pak tolong, ambo alah lamo manunggu " * 150)
    await page.press("#text", "Enter")
    await expect(page.locator("#log .msg.note")).to_contain_text("terlalu panjang", timeout=10_000)
    await expect(page.locator("#log .msg.me.failed")).to_have_count(1)
    await page.reload()
    await expect(page.locator("#log .msg.me").first).to_be_visible()
    assert await page.locator("#log .msg.me").count() == len(mine)
    await context.close()
