"""Hostile documents: a decompression-bomb image, PDFs with JavaScript / launch actions / embedded files.

The bomb is refused from its header before anything is decoded (politely, nothing stored as a case
document); a scripted PDF is accepted (a pilgrim's scanner app may add such things) but flagged on the
document, warned about on the case page, and served to staff sandboxed."""
from __future__ import annotations

import base64
import re
import time
import tracemalloc
from typing import Any

import pytest
from sqlalchemy import select

from dialogues.documents import inspect
from dialogues.schema import DocumentRules
from storage.models import CaseDocument
from tests.backoffice.conftest import (  # noqa: F401 - fixtures
    ADMIN_PASSWORD, admin_id, browser, live_server, login, seeded,
)
from tests.dialogues.conftest import Chat, chat, db, engine, make_photo, store  # noqa: F401 - fixtures
from tests.dialogues.test_pembatalan import run_deceased_until_documents
from tests.security.hostile import bomb_png, javascript_pdf, plain_pdf
from tests.conftest import chat_cookies
from tests.security.loop_probe import STALL_LIMIT, healthz_probe

RULES = DocumentRules(accepted_types=["image/jpeg", "image/png", "image/webp", "application/pdf"],
                      min_image_width=600, min_image_height=400, min_sharpness=50, max_pdf_pages=30,
                      max_image_pixels=50_000_000, form_labels={})
MB = 10 * 1024 * 1024


def test_bomb_is_refused_from_its_header_without_decoding() -> None:
    bomb = bomb_png()  # ~430 KB of PNG, 400 M pixels
    tracemalloc.start()
    started = time.perf_counter()
    result = inspect(bomb, "image/png", RULES, MB)
    elapsed = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert not result.ok and result.problem == "doc_too_many_pixels"
    assert elapsed < 0.5 and peak < 20 * 1024 * 1024  # decoding would take seconds and 400 MB


def test_image_just_over_the_office_limit_is_refused_not_warned() -> None:
    """Below Pillow's own error threshold Pillow only warns; the office's limit refuses."""
    rules = RULES.model_copy(update={"max_image_pixels": 1_000_000})
    result = inspect(make_photo(size=(1200, 900)), "image/jpeg", rules, MB)  # 1.08 M pixels
    assert not result.ok and result.problem == "doc_too_many_pixels"
    assert inspect(make_photo(size=(1200, 900)), "image/jpeg", RULES, MB).ok


def test_scripted_pdfs_are_flagged() -> None:
    result = inspect(javascript_pdf(), "application/pdf", RULES, MB)
    assert result.ok and {"javascript", "open_action"} <= set(result.warnings)
    loaded = inspect(javascript_pdf(launch=True, embedded=True), "application/pdf", RULES, MB)
    assert {"javascript", "launch", "automatic_action", "embedded_files"} <= set(loaded.warnings)
    hidden = inspect(javascript_pdf(escaped_names=True), "application/pdf", RULES, MB)  # /J#61vaScript
    assert "javascript" in hidden.warnings
    assert inspect(plain_pdf(2), "application/pdf", RULES, MB).warnings == ()  # "open at page 1" is fine


async def test_bomb_during_document_collection_answers_politely(chat: Chat, db) -> None:
    await run_deceased_until_documents(chat)
    out = await chat.say(files=[bomb_png()])
    assert "resolusi foto terlalu besar" in out
    async with db.session() as s:
        assert (await s.execute(select(CaseDocument))).scalars().all() == []
    out = await chat.say(files=[make_photo(seed=3)])  # the pilgrim sends a normal photo: the flow goes on
    assert "Diterima" in out


async def test_scripted_pdf_is_stored_with_its_warning(chat: Chat, db) -> None:
    await run_deceased_until_documents(chat)
    out = await chat.say(files=[javascript_pdf()])
    assert "Diterima" in out
    async with db.session() as s:
        doc = (await s.execute(select(CaseDocument))).scalar_one()
    assert {"javascript", "open_action"} <= set(doc.warnings or [])


async def test_bomb_and_scripted_pdf_through_the_web_chat_keep_the_loop_responsive(client: Any) -> None:
    def attachment(name: str, content_type: str, data: bytes) -> dict[str, str]:
        return {"filename": name, "content_type": content_type, "data_base64": base64.b64encode(data).decode()}

    attacker = chat_cookies(client, "penyerang-1")
    async with healthz_probe(client) as probe:
        for name, content_type, data in (("ktp.png", "image/png", bomb_png()),
                                         ("surat.pdf", "application/pdf", javascript_pdf())):
            r = await client.post("/webchat/messages", cookies=attacker, json={
                "text": "ini ktp", "attachments": [attachment(name, content_type, data)]})
            assert r.status == 200 and (await r.json())["messages"]
        other = await client.post("/webchat/messages", json={"text": "assalamualaikum"},
                                  cookies=chat_cookies(client, "jemaah-lain"))
        assert other.status == 200 and (await other.json())["messages"]
    assert probe.failures == 0 and probe.worst < STALL_LIMIT, probe.worst


async def test_case_page_warns_and_pdf_is_served_sandboxed(client: Any, admin_id: int, seeded: Any,  # noqa: F811
                                                           demo_services: Any) -> None:
    doc_id = await _add_scripted_pdf(demo_services, seeded.case_id)
    await login(client, "admin", ADMIN_PASSWORD)
    page = await (await client.get(f"/backoffice/cases/{seeded.case_id}")).text()
    assert "Peringatan:" in page and "JavaScript" in page
    r = await client.get(f"/backoffice/documents/{doc_id}")
    assert r.status == 200 and r.headers["Content-Type"] == "application/pdf"
    policy = [p.strip() for p in r.headers["Content-Security-Policy"].split(";")]
    assert "sandbox" in policy and r.headers["X-Content-Type-Options"] == "nosniff"
    clean = await client.get(f"/backoffice/documents/{seeded.document_ids[1]}")
    assert "sandbox" in clean.headers["Content-Security-Policy"]


async def _add_scripted_pdf(services: Any, case_id: int) -> int:
    data = javascript_pdf()
    stored = await services.files.put(data, "surat.pdf")
    found = inspect(data, "application/pdf", RULES, MB)
    async with services.db.session() as s:
        doc = CaseDocument(case_id=case_id, item_key="surat_permohonan", sha256=stored.sha256,
                           content_type="application/pdf", size=stored.size, warnings=list(found.warnings))
        s.add(doc)
        await s.commit()
    return doc.id


@pytest.mark.browser
async def test_staff_see_the_warning_and_the_pdf_in_a_sandbox(browser: Any, live_server: str,  # noqa: F811
                                                              admin_id: int, seeded: Any,  # noqa: F811
                                                              demo_services: Any) -> None:
    """In Chromium: the case page shows the warning, and the PDF, served with `sandbox`, still opens in
    the browser's viewer inside the case page (the sandbox does not cost staff the preview)."""
    from playwright.async_api import expect

    doc_id = await _add_scripted_pdf(demo_services, seeded.case_id)
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    await page.goto(f"{live_server}/backoffice/login")
    await page.fill("input[name=username]", "admin")
    await page.fill("input[name=password]", ADMIN_PASSWORD)
    await page.click("button:has-text('Masuk')")
    await page.goto(f"{live_server}/backoffice/cases/{seeded.case_id}")
    warning = page.locator(f"#doc-{doc_id} .docwarning")
    await expect(warning).to_contain_text("JavaScript")
    await expect(page.locator(f"#doc-{doc_id} iframe")).to_be_visible()
    await page.wait_for_timeout(1500)
    viewer = [f.url for f in page.frames if re.match(r"chrome-extension://", f.url)]
    assert viewer, [f.url for f in page.frames]  # Chromium's PDF viewer shows it inside the sandbox
    await context.close()
