"""Staff regenerate a case's ready-to-sign letters after a correction: the new PDFs replace the old ones on the
case, reach the pilgrim's chat, and the audit log says who did it. In a real browser too."""
from __future__ import annotations

import io
from typing import Any

import pytest
from playwright.async_api import expect
from pypdf import PdfReader
from sqlalchemy import select, update

from storage.models import AuditLog, Case, CaseDocument, Pilgrim
from tests.backoffice.conftest import ADMIN_PASSWORD, PILGRIM_USER, SeededCase, login, seed_case
from tests.backoffice.test_browser import open_webchat, staff_login
from tests.conftest import chat_cookies

ANSWERS = {"variant": "sendiri", "reason": "ekonomi", "reason_label": "Keperluan ekonomi/keluarga",
           "bank_name": "Bank Syariah Indonesia", "account_holder": "Siti Aminah", "account_number": "7123456789"}


def pdf_text(data: bytes) -> str:
    return " ".join("\n".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages).split())


async def with_answers(services: Any, seeded: SeededCase) -> None:
    async with services.db.session() as session:
        await session.execute(update(Case).where(Case.id == seeded.case_id).values(answers=ANSWERS))
        await session.commit()


async def letters_of(services: Any, case_id: int) -> list[CaseDocument]:
    async with services.db.session() as session:
        return list((await session.execute(select(CaseDocument).where(
            CaseDocument.case_id == case_id, CaseDocument.item_key.like("letter:%")).order_by(CaseDocument.id))
        ).scalars().all())


async def regenerate(client: Any, csrf: str, case_id: int) -> str:
    response = await client.post(f"/backoffice/cases/{case_id}/letters", data={"csrf_token": csrf},
                                 allow_redirects=False)
    assert response.status == 303
    return response.headers["Location"]


async def test_regenerate_after_a_registry_correction_replaces_and_sends(client, admin_id, seeded, demo_services):
    await with_answers(demo_services, seeded)
    csrf = await login(client, "admin", ADMIN_PASSWORD)
    page = await (await client.get(f"/backoffice/cases/{seeded.case_id}")).text()
    assert 'id="letters-regenerate"' in page and "Belum ada surat" in page

    assert "msg=done_letters" in await regenerate(client, csrf, seeded.case_id)
    # the office corrects the pilgrim's name in the registry, then makes the letters again
    async with demo_services.db.session() as session:
        case = await session.get(Case, seeded.case_id)
        await session.execute(update(Pilgrim).where(Pilgrim.id == case.pilgrim_id).values(nama="SITI AMINAH BINTI ALI"))
        await session.commit()
    assert "msg=done_letters" in await regenerate(client, csrf, seeded.case_id)

    first, second = await letters_of(demo_services, seeded.case_id)
    assert (first.status, second.status) == ("replaced", "generated") and second.item_key == "letter:surat_permohonan"
    text = pdf_text(await demo_services.files.read(second.sha256))
    assert "SITI AMINAH BINTI ALI" in text and "Keperluan ekonomi/keluarga" in text and "7123456789" in text
    assert demo_services.settings.config.office.name.upper() in text

    # the pilgrim's chat got the new letter (and the earlier one) with a working download link
    cookies = chat_cookies(client, PILGRIM_USER)
    polled = (await (await client.get("/webchat/messages", params={"after": "0"}, cookies=cookies)).json())["messages"]
    sent = [m for m in polled if m["attachments"]]
    assert len(sent) == 2 and "Petugas sudah memperbarui surat" in sent[-1]["text"]
    download = await client.get(sent[-1]["attachments"][0]["url"], cookies=cookies)
    assert download.status == 200 and "SITI AMINAH BINTI ALI" in pdf_text(await download.read())

    async with demo_services.db.session() as session:
        audit = (await session.execute(select(AuditLog).where(AuditLog.action == "case.letters_generated"))
                 ).scalars().all()
    assert [a.actor for a in audit] == ["staff:admin", "staff:admin"]
    assert audit[-1].detail == {"letters": ["surat_permohonan"], "documents": [second.id]}

    # the case file export carries the current letter, named
    export = await client.get(f"/backoffice/cases/{seeded.case_id}/export.pdf")
    exported = pdf_text(await export.read())
    assert "Surat permohonan pembatalan" in exported and "SITI AMINAH BINTI ALI" in exported

    # the case page lists the current letter (not the replaced one) apart from the checklist
    page = await (await client.get(f"/backoffice/cases/{seeded.case_id}")).text()
    assert f'id="letter-{second.id}"' in page and f'id="letter-{first.id}"' not in page
    assert f'id="doc-{second.id}"' not in page


async def test_regenerate_is_refused_for_a_closed_case_and_without_csrf(client, admin_id, demo_services):
    closed = await seed_case(demo_services, ticket="PBT-2026-00002", status="completed")
    csrf = await login(client, "admin", ADMIN_PASSWORD)
    assert "err=letters_unavailable" in await regenerate(client, csrf, closed.case_id)
    response = await client.post(f"/backoffice/cases/{closed.case_id}/letters", data={}, allow_redirects=False)
    assert response.status in (400, 403)
    assert await letters_of(demo_services, closed.case_id) == []


@pytest.mark.browser
async def test_staff_regenerate_letters_in_the_browser(live_server, browser, admin_id, seeded, demo_services):
    await with_answers(demo_services, seeded)
    staff = await staff_login(browser, live_server)
    await staff.goto(f"{live_server}/backoffice/cases/{seeded.case_id}")
    section = staff.locator("#letters")
    await expect(section).to_contain_text("Belum ada surat")
    await section.locator("button:has-text('Buat ulang surat')").click()
    await expect(staff.locator(".flash.ok")).to_contain_text("Surat dibuat ulang")
    await expect(section.locator("li")).to_contain_text("Surat permohonan pembatalan")
    # the pilgrim sees it in the web chat as a download link
    pilgrim = await open_webchat(browser, live_server, demo_services, PILGRIM_USER)
    link = pilgrim.locator("a.att", has_text="surat-permohonan")
    await expect(link).to_be_visible()
    async with pilgrim.expect_download() as info:
        await link.click()
    download = await info.value
    assert download.suggested_filename == f"surat-permohonan-{seeded.ticket}.pdf"
    with open(await download.path(), "rb") as fh:
        assert "SURAT PERMOHONAN PEMBATALAN" in pdf_text(fh.read())
