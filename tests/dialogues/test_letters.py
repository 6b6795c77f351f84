"""Ready-to-sign letters (dialogues/letters/*.yml): the surat permohonan and the SPTJM are rendered as PDF from
the case's answers with the office letterhead, sent in the chat and attached to the case. The PDFs are read
back with pypdf, as a pilgrim's printer or an officer would see them."""
from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from dialogues import case_letters
from dialogues.errors import DialogueConfigError
from dialogues.letter_templates import BLANK, fill, load_letters
from storage.models import AuditLog, Case, CaseDocument
from tests.conftest import WebChat, chat_cookies
from tests.dialogues.conftest import OFFICE, Chat, make_photo
from tests.dialogues.test_webchat_flows import YEAR, attach, rows, send_documents, start_deceased_cancellation


def pdf_text(data: bytes) -> str:
    reader = PdfReader(io.BytesIO(data))
    return "\n".join(page.extract_text() for page in reader.pages)


def flat(text: str) -> str:
    return " ".join(text.split())


async def self_cancellation(chat: Chat, reason: str = "ekonomi") -> str:
    await chat.say("batal", parse={"intent": {"name": "cancel_registration", "confidence": 0.9}})
    await chat.say("masih hidup")
    await chat.say(reason)
    await chat.say("0312345678 lahir 3 Mei 1960")
    await chat.say("BSI")
    await chat.say("Siti Aminah Rahman")
    out = await chat.say("7123456789")
    for _ in range(6):
        if 'ketik "lewati"' in out:
            out = await chat.say("lewati")
        else:
            await chat.say(files=[make_photo()])
            out = await chat.say("selesai")
    return out


# ------------------------------------------------------------------ in the chat, end to end (web chat)

async def test_completed_deceased_cancellation_gets_both_letters_in_chat_and_on_the_case(
        webchat: WebChat, demo_services: Any, client: Any) -> None:
    out = await start_deceased_cancellation(webchat)
    out = await send_documents(webchat, out)
    assert "Ringkasan pengajuan pembatalan" in out
    replies = await webchat.say("ya benar")
    ticket = f"PBT-{YEAR}-00001"
    assert ticket in replies[0]["text"]
    letter_reply = replies[-1]
    assert "Surat permohonan pembatalan" in letter_reply["text"] and "SPTJM ahli waris" in letter_reply["text"]
    assert "meterai Rp10.000" in letter_reply["text"]
    files = letter_reply["attachments"]
    assert [f["content_type"] for f in files] == ["application/pdf", "application/pdf"]
    assert [f["filename"] for f in files] == [f"surat-permohonan-{ticket}.pdf", f"sptjm-{ticket}.pdf"]

    # the browser downloads them through links bound to this chat session
    texts = []
    for f in files:
        response = await client.get(f["url"], cookies=webchat.cookies)
        assert response.status == 200 and response.content_type == "application/pdf"
        assert response.headers["Content-Disposition"].startswith("attachment;")
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        texts.append(flat(pdf_text(await response.read())))
        # another chat session (or none) cannot fetch them
        assert (await client.get(f["url"], cookies=chat_cookies(client, "someone-else"))).status == 404
    permohonan, sptjm = texts
    office = demo_services.settings.config.office
    for text in texts:
        assert office.name.upper() in text and office.address in text and office.phone in text  # letterhead
        assert "SITI AMINAH" in text and "0312345678" in text and "Ahmad Syukri" in text
        assert "14 Agustus 2025" in text and "Meterai Rp10.000" in text
        assert BLANK in text and "None" not in text  # NIK, address: dotted lines to fill in by hand
        assert "1375" not in text  # the pilgrim's registry NIK is never printed
    assert "SURAT PERMOHONAN PEMBATALAN PENDAFTARAN HAJI KARENA JEMAAH WAFAT" in permohonan
    assert f"Kepala {office.name}" in permohonan and "Bank Syariah Indonesia" in permohonan
    assert "7123456789" in permohonan and "anak kandung" in permohonan
    assert "SURAT PERNYATAAN TANGGUNG JAWAB MUTLAK" in sptjm and "bertanggung jawab penuh" in sptjm

    # attached to the case as generated documents, kept in the file store; one audit entry
    [case] = await rows(demo_services, Case)
    letters = await rows(demo_services, CaseDocument, CaseDocument.case_id == case.id,
                         CaseDocument.status == "generated")
    assert [d.item_key for d in letters] == ["letter:surat_permohonan", "letter:sptjm"]
    assert all(d.content_type == "application/pdf" and d.page_count == 1 for d in letters)
    assert all(demo_services.files.path_for(d.sha256).exists() for d in letters)
    [entry] = await rows(demo_services, AuditLog, AuditLog.action == "case.letters_generated")
    assert entry.case_id == case.id and entry.actor == "bot"
    # a reload of the page shows the letters again with their links
    history = await webchat.poll()
    assert any(a.get("url") == files[0]["url"] for m in history for a in m["attachments"])


# ------------------------------------------------------------------ what the letters say

async def test_self_cancellation_letter_states_the_typed_reason_and_has_no_sptjm(chat: Chat, db, store) -> None:
    out = await self_cancellation(chat, reason="mau pindah domisili ke luar negeri")
    out = await chat.say("ya")
    assert "PBT-2026-00001" in out and "Surat permohonan pembatalan" in out and "SPTJM" not in out
    letter_reply = chat.log[-1][1][-1]
    [attachment] = letter_reply.attachments
    text = flat(pdf_text(await store.read(attachment["sha256"])))
    assert "SURAT PERMOHONAN PEMBATALAN PENDAFTARAN HAJI" in text and "Siti Aminah Rahman" in text
    assert "0312345678" in text and "alasan: mau pindah domisili ke luar negeri" in text
    assert "3 Mei 1960" in text and "Bukittinggi, 24 November 2026" in text
    assert OFFICE.name.upper() in text and OFFICE.address in text
    assert "Nomor HP : " + BLANK in text  # the web chat does not know the phone: a line to write it on
    assert "None" not in text


async def test_transfer_letters_are_signed_by_the_recipient(chat: Chat, db, store) -> None:
    from tests.dialogues.test_pelimpahan import start_deceased

    await start_deceased(chat)
    await chat.say("1 Juni 2024")
    await chat.say("Budi Santoso")
    await chat.say("1375014508900001")
    await chat.say("17 Agustus 1990")
    out = await chat.say("anak kandung")
    for _ in range(12):
        if "Ringkasan" in out:
            break
        if 'ketik "lewati"' in out:
            out = await chat.say("lewati")
        else:
            await chat.say(files=[make_photo()])
            out = await chat.say("selesai")
    out = await chat.say("ya")
    assert "PLH-2026-00001" in out
    permohonan, sptjm = [flat(pdf_text(await store.read(a["sha256"]))) for a in chat.log[-1][1][-1].attachments]
    assert "SURAT PERMOHONAN PELIMPAHAN NOMOR PORSI JEMAAH HAJI WAFAT" in permohonan
    assert "( Budi Santoso )" in permohonan and "( Budi Santoso )" in sptjm
    assert "1375014508900001" in permohonan and "17 Agustus 1990" in sptjm and "1 Juni 2024" in permohonan
    assert "Saya adalah Anak kandung dari jemaah" in sptjm or "Saya adalah anak kandung dari jemaah" in sptjm


async def test_a_letter_that_cannot_be_rendered_leaves_the_case_and_says_so(chat: Chat, db, monkeypatch,
                                                                             caplog) -> None:
    def broken(*_args: Any) -> Any:
        raise OSError("disk full")

    monkeypatch.setattr(case_letters, "pdf_renderer", lambda: broken)
    await self_cancellation(chat)
    with caplog.at_level(logging.ERROR):
        out = await chat.say("ya")
    assert "PBT-2026-00001" in out and "belum bisa kami buat" in out
    async with db.session() as s:
        case = (await s.execute(select(Case))).scalar_one()
        letters = (await s.execute(select(CaseDocument).where(CaseDocument.item_key.like("letter:%")))).all()
    assert case.status == "submitted" and letters == []
    [record] = [r for r in caplog.records if "letters" in r.getMessage()]
    assert "Siti" not in record.getMessage() and "0312345678" not in record.getMessage()


# ------------------------------------------------------------------ templates are office data

def test_missing_answers_become_a_dotted_line_never_none() -> None:
    assert fill("Nama: {pilgrim_name}", {"pilgrim_name": None}) == f"Nama: {BLANK}"
    assert fill("Nama: {pilgrim_name}", {}) == f"Nama: {BLANK}"
    assert fill("Alamat: {phone}", {"phone": "  "}) == f"Alamat: {BLANK}"
    assert fill("", {}) == BLANK
    assert fill("{nomor_porsi}", {"nomor_porsi": "0312345678"}) == "0312345678"


def test_a_template_with_an_unknown_placeholder_is_refused_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "salah.yml").write_text(
        "letter:\n  key: surat_permohonan\n  name: Surat\n  service: pembatalan\n  heading: SURAT\n"
        "  blocks:\n    - text: 'Nama {nama_lengkap}'\n", encoding="utf-8")
    with pytest.raises(DialogueConfigError, match=r"salah\.yml: unknown placeholder \{nama_lengkap\}"):
        load_letters(tmp_path, {"applicant_name"})


def test_a_block_must_be_one_kind(tmp_path: Path) -> None:
    (tmp_path / "dua.yml").write_text(
        "letter:\n  key: sptjm\n  name: SPTJM\n  service: pelimpahan\n  heading: SPTJM\n"
        "  blocks:\n    - {text: a, fields: [[Nama, b]]}\n", encoding="utf-8")
    with pytest.raises(DialogueConfigError, match=r"dua\.yml"):
        load_letters(tmp_path, set())


def test_the_shipped_templates_cover_each_service_and_variant(engine) -> None:
    def keys(service: str, variant: str) -> list[str]:
        return sorted(t.key for t in engine.letters if t.applies(service, variant))

    assert keys("pembatalan", "sendiri") == ["surat_permohonan"]
    assert keys("pembatalan", "meninggal") == ["sptjm", "surat_permohonan"]
    for reason in ("meninggal", "sakit_permanen", "tidak_istithaah"):
        assert keys("pelimpahan", reason) == ["sptjm", "surat_permohonan"]
    assert keys("pendaftaran", "") == []


def test_the_letterhead_logo_is_drawn_when_configured(engine, tmp_path: Path) -> None:
    from PIL import Image

    from dialogues.letter_pdf import Letterhead, render_letter
    from dialogues.letter_templates import fill_letter

    logo = tmp_path / "logo.png"
    Image.new("RGB", (120, 120), "green").save(logo)
    template = next(t for t in engine.letters if t.applies("pembatalan", "sendiri"))
    plain, _ = render_letter(fill_letter(template, {}), Letterhead("Kantor X", "Jl. Y", "0752"))
    with_logo, pages = render_letter(fill_letter(template, {}), Letterhead("Kantor X", "Jl. Y", "0752", str(logo)))
    images = [PdfReader(io.BytesIO(data)).pages[0].images for data in (plain, with_logo)]
    assert (len(images[0]), len(images[1]), pages) == (0, 1, 1)
    assert "KANTOR X" in pdf_text(with_logo) and "Telp. 0752" in pdf_text(with_logo)


async def test_letters_render_in_the_worker_pool(engine) -> None:
    """In the service the rendering runs in a worker process (bot/workers.py): its inputs must cross over."""
    from bot.workers import WorkerPool
    from dialogues.letter_pdf import render_letter
    from dialogues.letter_templates import fill_letter

    template = next(t for t in engine.letters if t.applies("pelimpahan", "meninggal") and t.key == "sptjm")
    pool = WorkerPool(max_workers=1)
    try:
        data, pages = await pool.run(render_letter, fill_letter(template, {"recipient_name": "Rina Marlina"}),
                                     case_letters.letterhead(engine))
    finally:
        pool.stop()
    assert pages == 1 and "( Rina Marlina )" in flat(pdf_text(data))
