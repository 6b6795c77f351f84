"""A pilgrim registers by chat and types a NIK, then sends a KTP photo showing another NIK: after the document
reader ran, staff see a warning on the case page; the pilgrim is told nothing about what was read, and the
case is not rejected. When Tesseract is missing the case page says OCR is not available."""
from __future__ import annotations

import base64
import logging
import random
from typing import Any

import pytest
from sqlalchemy import select

from bot.docread import READER_KEY
from bot.docread.job import READ
from bot.stories.ktp import Card, photo_of
from storage.models import Case, CaseDocument
from tests.backoffice.conftest import ADMIN_PASSWORD, login, seed_case
from tests.conftest import WebChat
from tests.docread.test_reader import needs_tesseract

TYPED_NIK = "1375010707770017"
CARD_NIK = "1375010707770025"  # the same person's birth date, another serial: a typo or someone else's KTP


def ktp_attachment(card: Card, seed: int = 3) -> list[dict[str, str]]:
    photo = photo_of(card, "sharp", random.Random(seed))
    return [{"filename": "ktp.jpg", "content_type": "image/jpeg", "data_base64": base64.b64encode(photo).decode()}]


async def quiet_reader(client: Any) -> Any:
    """The app's document reader with its background loop stopped: the test reads the documents itself."""
    reader = client.server.app[READER_KEY]
    await reader.loop.stop()
    assert reader.available
    return reader


async def register_with_ktp(chat: WebChat, card: Card) -> str:
    """The pendaftaran conversation with the KTP photo; returns every bot text of the conversation."""
    said = []
    for text in ("daftar haji", "07-07-1977", "ya", "tidak", "tidak", "sudah", "Nofrizal Chaniago", TYPED_NIK,
                 "ya", "lewati"):
        said.append(await chat.say_text(text))
    said.append(await chat.say_text("", attachments=ktp_attachment(card)))
    assert "diterima" in said[-1].lower(), said[-1]
    for text in ("sudah", "lewati semua", "1", "ya"):
        said.append(await chat.say_text(text))
    assert "REG-" in said[-1], said[-1]
    return "\n".join(said)


@needs_tesseract
async def test_ktp_with_another_nik_than_typed_is_a_staff_warning(client, admin_id, demo_services, caplog):
    chat = WebChat(client, "pendaftar-ocr")
    card = Card(CARD_NIK, "NOFRIZAL CHANIAGO", "BUKITTINGGI", "07-07-1977", False)
    transcript = await register_with_ktp(chat, card)
    reader = await quiet_reader(client)
    with caplog.at_level(logging.INFO):
        assert await reader.run_until_idle() == 1
    async with demo_services.db.session() as session:
        case = (await session.execute(select(Case).where(Case.service == "pendaftaran"))).scalar_one()
        [doc] = (await session.execute(select(CaseDocument).where(CaseDocument.case_id == case.id,
                                                                  CaseDocument.item_key == "ktp"))).scalars()
    assert doc.ocr_status == READ and doc.ocr["niks"] == [CARD_NIK] and doc.ocr["name"] == "NOFRIZAL CHANIAGO"
    assert case.status == "submitted" and doc.status == "received"  # a warning, never a decision

    await login(client, "admin", ADMIN_PASSWORD)
    page = await (await client.get(f"/backoffice/cases/{case.id}")).text()
    assert 'id="ocr-summary"' in page and "1 perbedaan" in page
    assert f"NIK pada foto ({CARD_NIK}) berbeda dengan NIK yang diketik jemaah ({TYPED_NIK})" in page
    assert "nama cocok dengan yang diketik jemaah" in page

    # the pilgrim hears nothing of the reading, and no log line carries the NIK or the name
    replies = transcript + "\n".join(m["text"] for m in await chat.poll())
    assert CARD_NIK not in replies and "OCR" not in replies
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert CARD_NIK not in logged and "NOFRIZAL" not in logged and f"OCR of document {doc.id}" in logged


@needs_tesseract
async def test_ktp_of_the_registered_pilgrim_matches_the_registry(client, admin_id, demo_services):
    from storage.models import Pilgrim

    seeded = await seed_case(demo_services)
    async with demo_services.db.session() as session:
        case = await session.get(Case, seeded.case_id)
        pilgrim = await session.get(Pilgrim, case.pilgrim_id)
        card = Card(pilgrim.nik, pilgrim.nama, "BUKITTINGGI", "01-01-1960", pilgrim.jenis_kelamin == "P")
        stored = await demo_services.files.put(photo_of(card, "tilted", random.Random(5)), "ktp.jpg")
        doc = await session.get(CaseDocument, seeded.document_ids[0])
        doc.sha256, doc.content_type, doc.size = stored.sha256, stored.content_type, stored.size
        await session.commit()
    assert await (await quiet_reader(client)).run_until_idle() == 1
    await login(client, "admin", ADMIN_PASSWORD)
    page = await (await client.get(f"/backoffice/cases/{seeded.case_id}")).text()
    assert "Peringatan OCR" not in page and 'id="ocr-summary"' not in page
    assert "NIK cocok dengan registri porsi" in page and "nama cocok dengan registri porsi" in page


async def test_without_tesseract_the_case_page_says_ocr_is_not_available(client, admin_id, demo_services, caplog,
                                                                        monkeypatch):
    from bot.docread import job

    monkeypatch.setattr(job, "available", lambda lang: False)
    reader = client.server.app[READER_KEY]
    with caplog.at_level(logging.WARNING):
        assert await reader.check() is False
    assert [r.getMessage() for r in caplog.records if "OCR off" in r.getMessage()]
    assert await reader.run_until_idle() == 0
    seeded = await seed_case(demo_services)
    await login(client, "admin", ADMIN_PASSWORD)
    page = await (await client.get(f"/backoffice/cases/{seeded.case_id}")).text()
    assert "OCR tidak tersedia" in page


async def put_ktp_photo(services: Any, seeded: Any, card: Card, variant: str = "sharp") -> None:
    """Replace the seeded case's KTP image by a photo of `card`."""
    stored = await services.files.put(photo_of(card, variant, random.Random(11)), "ktp.jpg")
    async with services.db.session() as session:
        doc = await session.get(CaseDocument, seeded.document_ids[0])
        doc.sha256, doc.content_type, doc.size = stored.sha256, stored.content_type, stored.size
        await session.commit()


async def test_a_reading_that_times_out_is_tried_again_then_left_to_staff(demo_services, monkeypatch):
    from bot.docread import job
    from dialogues import offload

    seeded = await seed_case(demo_services)
    reader = job.DocumentReader(demo_services.db, demo_services.files, demo_services.engine.rules.document_reading)
    reader.available = True
    calls = []

    async def busy_pool(fn: Any, *args: Any, timeout: float | None = None) -> Any:  # every worker overran
        calls.append(timeout)
        raise offload.OffloadTimeout(fn.__name__)

    monkeypatch.setattr(offload, "run_background", busy_pool)  # the job reads in the pool's background lane
    monkeypatch.setattr(job, "RETRY_AFTER", job.timedelta(0))
    assert await reader.run_until_idle() == job.MAX_ATTEMPTS
    async with demo_services.db.session() as session:
        doc = await session.get(CaseDocument, seeded.document_ids[0])
    assert doc.ocr_status == job.FAILED and doc.ocr["attempts"] == job.MAX_ATTEMPTS
    assert calls and all(t and t > demo_services.engine.rules.document_reading.timeout_seconds for t in calls)


@needs_tesseract
@pytest.mark.browser
async def test_staff_see_the_ocr_warning_in_the_browser(live_server, browser, admin_id, demo_services):
    from playwright.async_api import expect

    from bot.docread.job import DocumentReader
    from storage.models import Pilgrim
    from tests.backoffice.test_browser import SHOTS, staff_login

    seeded = await seed_case(demo_services)
    async with demo_services.db.session() as session:
        pilgrim = await session.get(Pilgrim, (await session.get(Case, seeded.case_id)).pilgrim_id)
    other = pilgrim.nik[:12] + ("0001" if pilgrim.nik[12:] != "0001" else "0002")  # someone else's KTP
    await put_ktp_photo(demo_services, seeded, Card(other, pilgrim.nama, "BUKITTINGGI", "01-01-1960", False))
    reader = DocumentReader(demo_services.db, demo_services.files, demo_services.engine.rules.document_reading)
    assert await reader.check() and await reader.run_until_idle() == 1

    staff = await staff_login(browser, live_server)
    await staff.goto(f"{live_server}/backoffice/cases/{seeded.case_id}")
    warning = staff.locator(f"#doc-{seeded.document_ids[0]} .ocr-warning")
    await expect(warning).to_be_visible()
    await expect(warning).to_contain_text(f"NIK pada foto ({other}) berbeda dengan NIK registri porsi ({pilgrim.nik})")
    await expect(staff.locator("#ocr-summary")).to_contain_text("1 perbedaan")
    await expect(staff.locator(f"#doc-{seeded.document_ids[0]} button:has-text('Terima')")).to_be_visible()
    SHOTS.mkdir(parents=True, exist_ok=True)
    await staff.locator(f"#doc-{seeded.document_ids[0]}").screenshot(path=str(SHOTS / "ocr-warning.png"))
