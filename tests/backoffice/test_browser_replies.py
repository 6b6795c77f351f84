"""In Chromium: the officer asks for information on the case page, the heir answers in the chat (text, then a
voice note); the queue flags the reply, the case page shows it and the voice note plays from the back office."""
from __future__ import annotations

import base64
import io
import math
import re
import struct
import wave

import pytest
from playwright.async_api import expect

from tests.backoffice.conftest import PILGRIM_USER
from tests.backoffice.test_browser import open_webchat, staff_login

pytestmark = pytest.mark.browser


def voice_wav(seconds: float = 1.5, rate: int = 8000) -> bytes:
    """A short voice-like tone as a WAV file (what a browser recorder or a phone may send)."""
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 220 * i / rate)))
                               for i in range(int(seconds * rate))))
    return out.getvalue()


async def test_officer_sees_and_plays_the_heirs_reply(live_server, browser, admin_id, seeded, demo_services):
    staff = await staff_login(browser, live_server)
    await staff.goto(f"{live_server}/backoffice/cases/{seeded.case_id}")
    form = staff.locator("form.action-request_info")
    await form.locator("textarea[name=text]").fill("Mohon kirim nomor rekening Bank Muamalat ahli waris")
    await form.locator("button").click()
    await expect(staff.locator("h1 .badge")).to_have_text("Perlu info")

    heir = await open_webchat(browser, live_server, demo_services, PILGRIM_USER)
    chat = heir.context.request  # the web chat's own endpoint with the heir's session cookie, as its script calls it
    reply = await chat.post(f"{live_server}/webchat/messages", data={
        "attachments": [], "text": "rekening muamalat ambo alah dibukak pak, nomor nyo 3310012345"})
    assert "teruskan ke petugas" in (await reply.text())
    await chat.post(f"{live_server}/webchat/messages", data={"text": "", "attachments": [
        {"filename": "suara.wav", "content_type": "audio/wav",
         "data_base64": base64.b64encode(voice_wav()).decode()}]})

    await staff.goto(f"{live_server}/backoffice/cases?status=in_review")
    row = staff.locator("tr", has_text=seeded.ticket)
    await expect(row.locator(".badge.new-reply")).to_have_text("Balasan baru")
    await row.locator(f"text={seeded.ticket}").click()
    await expect(staff.locator("h1 .badge")).to_have_text("Diperiksa")
    replies = staff.locator("#pilgrim-replies")
    await expect(replies).to_contain_text("3310012345")
    audio = replies.locator("audio")
    await expect(audio).to_have_count(1)
    duration = await audio.evaluate("""a => new Promise((ok, fail) => {
        a.addEventListener('loadedmetadata', () => ok(a.duration), {once: true});
        a.addEventListener('error', () => fail(new Error('audio error ' + (a.error && a.error.code))), {once: true});
        a.load(); })""")
    assert 1.0 < duration < 2.0
    await staff.goto(f"{live_server}/backoffice/inbox")
    await expect(staff.locator("#case-replies")).to_contain_text(seeded.ticket)
    link = staff.locator("#case-replies a", has_text=re.compile("3310012345|berkas"))
    await expect(link.first).to_be_visible()
