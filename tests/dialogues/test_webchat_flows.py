"""End-to-end conversations through POST /webchat/messages (real pipeline, built-in NLU, demo registry).

Each test asserts what was stored (cases, documents, appointments, conversation mode), not only replies.
Demo pilgrims used: 0312345678 SITI AMINAH (born 1960-06-05, NIK ...0001, menunggu),
0312000333 ZAINAL ARIFIN (dilimpahkan).
"""
from __future__ import annotations

import base64
import re
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select

from storage.models import Appointment, Case, CaseDocument, Conversation, Message
from tests.conftest import WebChat
from tests.dialogues.conftest import make_pdf, make_photo

YEAR = datetime.now(timezone.utc).year


def attach(data: bytes, name: str = "foto.jpg", content_type: str = "image/jpeg") -> list[dict[str, str]]:
    return [{"filename": name, "content_type": content_type, "data_base64": base64.b64encode(data).decode()}]


async def rows(services: Any, model: Any, *where: Any) -> list[Any]:
    async with services.db.session() as s:
        order = model.id if hasattr(model, "id") else model.conversation_id
        return list((await s.execute(select(model).where(*where).order_by(order))).scalars().all())


async def send_documents(chat: WebChat, out: str, max_items: int = 20) -> str:
    """Answer every checklist item: skip optional ones, send one photo for the others."""
    for i in range(max_items):
        if not re.search(r"Dokumen \d+ dari", out):
            return out
        if 'ketik "lewati"' in out:
            out = await chat.say_text("lewati")
            continue
        reply = await chat.say_text(attachments=attach(make_photo(seed=100 + i)))
        assert "Diterima" in reply, reply
        out = await chat.say_text("selesai")
    return out


# ---------------------------------------------------------------- cek porsi

async def test_check_porsi_in_one_message(webchat: WebChat) -> None:
    out = await webchat.say_text("assalamualaikum, mau cek porsi 0312345678 lahir 5 Juni 1960")
    assert "SITI A***" in out and "2031 M" in out and "H" in out and "AMINAH" not in out


async def test_check_porsi_unknown_then_wrong_birth_date(webchat: WebChat) -> None:
    out = await webchat.say_text("cek porsi")
    assert "10 angka" in out
    out = await webchat.say_text("0399999999")
    assert "tanggal lahir" in out  # any number is asked to verify first: no hint whether it exists
    out = await webchat.say_text("5 Juni 1960")
    assert "tidak cocok" in out and "tidak kami temukan" in out
    out = await webchat.say_text("ubah nomor porsi")
    assert "10 angka" in out
    out = await webchat.say_text("0312345678")
    assert "tanggal lahir" in out
    out = await webchat.say_text("6 Juni 1960")
    assert "tidak cocok" in out and "SITI" not in out
    out = await webchat.say_text("0001")  # last 4 digits of the NIK
    assert "SITI A***" in out


async def test_check_porsi_wait_is_the_failing_chats_alone(webchat: WebChat, demo_services: Any, client: Any) -> None:
    await webchat.say_text("cek porsi 0312345678")
    for day in range(1, 6):
        out = await webchat.say_text(f"{day}/01/1970")
        if "dibantu petugas" in out:
            out = await webchat.say_text("tidak")
    assert "coba lagi dalam 5 menit" in out
    out = await webchat.say_text("cek porsi 0312345678 lahir 5 Juni 1960")
    assert "coba lagi dalam" in out and "SITI" not in out
    other = WebChat(client, "the-real-pilgrim")  # a stranger's failures never lock the pilgrim out
    out = await other.say_text("cek porsi 0312345678 lahir 5 Juni 1960")
    assert "SITI A***" in out


# ---------------------------------------------------------------- pembatalan (deceased, with uploads)

async def start_deceased_cancellation(chat: WebChat) -> str:
    out = await chat.say_text("saya mau membatalkan porsi haji ibu saya yang sudah meninggal")
    assert "keadaan jemaah" not in out  # taken from the message
    assert "beralih ke pelimpahan" in out
    out = await chat.say_text("tidak, tetap batal")
    assert "nomor porsi" in out.lower()
    out = await chat.say_text("porsi 0312345678 lahir 5 Juni 1960")
    assert "wafat" in out
    await chat.say_text("tgl 14 agst 25")
    await chat.say_text("Ahmad Syukri")
    await chat.say_text("anak kandung")
    await chat.say_text("Bank Syariah Indonesia")
    await chat.say_text("Ahmad Syukri")
    out = await chat.say_text("7123-4567-89")
    assert "Dokumen 1 dari 13" in out
    return out


async def test_deceased_cancellation_with_uploads(webchat: WebChat, demo_services: Any) -> None:
    out = await start_deceased_cancellation(webchat)
    out = await webchat.say_text(attachments=attach(make_pdf(2), "permohonan.pdf", "application/pdf"))
    assert "Diterima" in out
    out = await webchat.say_text(attachments=attach(make_photo(seed=3)))
    assert "2 berkas" in out
    out = await webchat.say_text("selesai")
    out = await send_documents(webchat, out)
    assert "Ringkasan pengajuan pembatalan" in out and "14 Agustus 2025" in out and "7123456789" in out
    out = await webchat.say_text("ya benar")
    ticket = f"PBT-{YEAR}-00001"
    assert ticket in out and "biometrik" in out
    [case] = await rows(demo_services, Case)
    assert case.ticket == ticket and case.status == "submitted" and case.service == "pembatalan"
    assert case.variant == "meninggal" and case.nomor_porsi == "0312345678" and case.submitted_at
    assert case.answers["death_date"] == "2025-08-14" and case.answers["bank_name"] == "Bank Syariah Indonesia"
    docs = await rows(demo_services, CaseDocument, CaseDocument.case_id == case.id,
                      CaseDocument.status != "generated")  # the ready-to-sign letters: test_letters.py
    assert len(docs) == 12  # 11 required items (one with 2 files), 2 optional skipped
    pdf = next(d for d in docs if d.content_type == "application/pdf")
    assert pdf.page_count == 2 and pdf.item_key == "surat_permohonan" and pdf.status == "received"
    assert all(demo_services.files.path_for(d.sha256).exists() for d in docs)
    # the transcript is linked
    msgs = await rows(demo_services, Message, Message.conversation_id == case.conversation_id)
    assert len(msgs) > 40


async def test_wrong_file_type_and_blurry_photo(webchat: WebChat, demo_services: Any) -> None:
    await start_deceased_cancellation(webchat)
    out = await webchat.say_text(attachments=attach(b"PK\x03\x04 this is a zip, named as a jpg"))
    assert "tidak dapat kami terima" in out
    out = await webchat.say_text(attachments=attach(make_photo(sharp=False)))
    assert "buram" in out and "foto ulang" in out
    assert await rows(demo_services, CaseDocument) == []
    out = await webchat.say_text(attachments=attach(make_photo()))
    assert "Diterima" in out
    assert len(await rows(demo_services, CaseDocument)) == 1


async def test_faq_mid_flow_then_resume(webchat: WebChat) -> None:
    await webchat.say_text("cek porsi")
    out = await webchat.say_text("berapa biaya haji?")
    assert "Rp25.000.000" in out and "nomor porsi" in out
    out = await webchat.say_text("0312345678")
    assert "tanggal lahir" in out


async def test_stop_mid_flow(webchat: WebChat, demo_services: Any) -> None:
    await start_deceased_cancellation(webchat)
    await webchat.say_text(attachments=attach(make_photo()))
    out = await webchat.say_text("ga jadi")
    assert "yakin" in out
    out = await webchat.say_text("iya")
    assert "dihentikan" in out
    assert await rows(demo_services, Case) == []
    [conv] = await rows(demo_services, Conversation)
    assert conv.state.get("flow") is None


async def test_correction_mid_flow(webchat: WebChat, demo_services: Any) -> None:
    await webchat.say_text("saya mau membatalkan porsi")
    await webchat.say_text("1")
    await webchat.say_text("alasan ekonomi")
    await webchat.say_text("0312345678")
    out = await webchat.say_text("5 Juni 1960")
    assert "nama bank" in out.lower() or "bank" in out.lower()
    out = await webchat.say_text("nomor porsi saya salah")
    assert "nomor porsi" in out.lower()
    out = await webchat.say_text("0312000666")
    assert "verifikasi" in out  # a new porsi must be verified again
    out = await webchat.say_text("26 Juli 1958")
    assert "bank" in out.lower()
    [conv] = await rows(demo_services, Conversation)
    assert conv.state["slots"]["porsi"] == "0312000666"


async def test_restart_mid_flow_with_server_restarted(settings: Any, demo_services: Any, aiohttp_client: Any) -> None:
    from bot.app import create_app
    from bot.services import build_services

    first = WebChat(await aiohttp_client(create_app(demo_services)), "restart-user")
    await first.say_text("saya mau membatalkan porsi")
    await first.say_text("2")
    await first.say_text("tidak")
    out = await first.say_text("0312345678")
    assert "tanggal lahir" in out
    second_services = await build_services(settings)
    try:
        second = WebChat(await aiohttp_client(create_app(second_services)), "restart-user")
        out = await second.say_text("5 Juni 1960")
        assert "wafat" in out
    finally:
        await second_services.close()


# ---------------------------------------------------------------- pelimpahan

async def test_transfer_happy_path(webchat: WebChat, demo_services: Any) -> None:
    out = await webchat.say_text("saya mau pelimpahan porsi")
    assert "alasan" in out.lower()
    await webchat.say_text("meninggal dunia")
    await webchat.say_text("0312345678")
    out = await webchat.say_text("05-06-1960")
    assert "wafat" in out
    await webchat.say_text("3 Maret 2025")
    await webchat.say_text("Rina Marlina")
    await webchat.say_text("1375014508900001")
    await webchat.say_text("5 Agustus 1990")
    out = await webchat.say_text("anak kandung")
    out = await send_documents(webchat, out)
    assert "Ringkasan pengajuan pelimpahan" in out
    out = await webchat.say_text("ya")
    assert f"PLH-{YEAR}-00001" in out
    [case] = await rows(demo_services, Case)
    assert case.service == "pelimpahan" and case.answers["recipient_relationship"] == "anak_kandung"
    assert len(await rows(demo_services, CaseDocument, CaseDocument.case_id == case.id,
                          CaseDocument.status != "generated")) == 8  # and 2 ready-to-sign letters (test_letters.py)


async def test_transfer_death_date_too_early(webchat: WebChat, demo_services: Any) -> None:
    await webchat.say_text("pelimpahan porsi")
    await webchat.say_text("1")
    await webchat.say_text("0312345678 lahir 5 Juni 1960")
    out = await webchat.say_text("1 Maret 2019")
    assert "29 April 2019" in out and "pembatalan" in out
    assert await rows(demo_services, Case) == []


async def test_transfer_ineligible_relationship(webchat: WebChat) -> None:
    await webchat.say_text("pelimpahan porsi")
    await webchat.say_text("1")
    await webchat.say_text("0312345678 lahir 5 Juni 1960")
    await webchat.say_text("3 Maret 2025")
    await webchat.say_text("Budi")
    await webchat.say_text("1375010101900001")
    await webchat.say_text("1 Januari 1990")
    out = await webchat.say_text("keponakan")
    assert "hanya dapat dilimpahkan kepada" in out
    out = await webchat.say_text("saudara kandung")
    assert "Dokumen 1" in out


async def test_transfer_already_transferred(webchat: WebChat, demo_services: Any) -> None:
    await webchat.say_text("pelimpahan porsi")
    await webchat.say_text("sakit permanen")
    out = await webchat.say_text("0312000333")
    assert "dilimpahkan" not in out  # not before the identity check
    out = await webchat.say_text("10 April 1950")
    assert "sudah pernah dilimpahkan" in out
    assert await rows(demo_services, Case) == []


# ---------------------------------------------------------------- pendaftaran, info, hand-off

async def test_registration_with_booking(webchat: WebChat, demo_services: Any) -> None:
    out = await webchat.say_text("saya mau daftar haji")
    assert "tanggal lahir" in out
    for answer in ("12/03/1985", "iya", "belum", "tidak pernah", "sudah", "Dewi Sartika", "1375014303850001"):
        out = await webchat.say_text(answer)
    assert "memeriksa dokumen" in out
    msgs = await webchat.say("tidak")
    assert msgs[-1]["choices"], msgs
    out = await webchat.say_text("2")
    assert "Ringkasan pendaftaran" in out
    out = await webchat.say_text("ya")
    assert f"REG-{YEAR}-00001" in out
    [case] = await rows(demo_services, Case)
    [appt] = await rows(demo_services, Appointment)
    assert appt.case_id == case.id and appt.status == "booked" and appt.slot_start > datetime.now(timezone.utc)


async def test_case_status_lists_own_cases(webchat: WebChat, demo_services: Any) -> None:
    await test_deceased_cancellation_with_uploads(webchat, demo_services)
    out = await webchat.say_text("status pengajuan saya")
    assert f"PBT-{YEAR}-00001" in out


async def test_subscribe_and_handoff(webchat: WebChat, demo_services: Any) -> None:
    await webchat.say_text("saya mau berlangganan pengumuman")
    [conv] = await rows(demo_services, Conversation)
    assert conv.subscribed is True
    out = await webchat.say_text("saya mau bicara dengan petugas")
    assert "petugas" in out
    [conv] = await rows(demo_services, Conversation)
    assert conv.mode == "waiting_staff" and conv.handoff_since is not None


async def test_info_questions_and_requirements(webchat: WebChat) -> None:
    assert "Rp25.000.000" in await webchat.say_text("berapa biaya haji?")
    assert "Alamat" in await webchat.say_text("alamat kantor dimana?")
    out = await webchat.say_text("apa saja syarat pelimpahan?")
    assert "Akta kematian" in out and "Ingin mulai" in out
    out = await webchat.say_text("tidak")
    assert "Silakan pilih layanan" in out


async def test_after_handoff_the_bot_acknowledges_once_then_stays_quiet(webchat: WebChat,
                                                                        demo_services: Any) -> None:
    await webchat.say_text("cek porsi")
    await webchat.say_text("saya mau bicara dengan petugas")
    [ack] = await webchat.say("halo, ada orang?")
    assert "akan dibalas oleh petugas" in ack["text"]
    assert await webchat.say("tolong dibantu") == []
    [conv] = await rows(demo_services, Conversation)
    assert conv.mode == "waiting_staff" and conv.state.get("flow") == "cek_porsi"


async def test_stop_keyword_opts_out_of_broadcasts_at_top_level(webchat: WebChat, demo_services: Any) -> None:
    from bot.broadcast.audience import Segment, count
    from storage.broadcast_models import BroadcastOptout

    assert "menerima pengumuman" in await webchat.say_text("langganan pengumuman")
    async with demo_services.db.session() as s:
        assert (await count(s, Segment(audience="subscribers")))["total"] == 1
    out = await webchat.say_text("STOP")
    assert "tidak akan menerima pengumuman lagi" in out and "yakin" not in out
    [conv] = await rows(demo_services, Conversation)
    [optout] = await rows(demo_services, BroadcastOptout)
    assert conv.subscribed is False and optout.source == "keyword:STOP"
    async with demo_services.db.session() as s:
        assert (await count(s, Segment()))["total"] == 0


async def test_stop_keyword_in_a_flow_asks_which_stop_is_meant(webchat: WebChat, demo_services: Any) -> None:
    from storage.broadcast_models import BroadcastOptout

    await webchat.say_text("cek porsi")
    out = await webchat.say_text("berhenti")
    assert "berhenti mengisi formulir, atau berhenti menerima pengumuman" in out
    assert "tidak akan menerima pengumuman lagi" not in out
    assert await rows(demo_services, BroadcastOptout) == []
    out = await webchat.say_text("pengumuman")
    assert "tidak akan menerima pengumuman lagi" in out and "LANGGANAN" in out and "nomor porsi" in out
    assert len(await rows(demo_services, BroadcastOptout)) == 1
    [conv] = await rows(demo_services, Conversation)
    assert conv.state.get("flow") == "cek_porsi"


async def test_unsubscribe_sentence_excludes_a_linked_pilgrim(webchat: WebChat, demo_services: Any) -> None:
    from bot.broadcast.audience import Segment, count
    from storage.broadcast_models import BroadcastOptout

    await webchat.say_text("halo")
    [conv] = await rows(demo_services, Conversation)
    async with demo_services.db.session() as s:
        row = await s.get(Conversation, conv.id)
        row.pilgrim_id = 1  # linked to a registry pilgrim, never subscribed
        await s.commit()
        assert (await count(s, Segment(audience="linked")))["total"] == 1
    assert "tidak akan menerima pengumuman" in await webchat.say_text("tolong berhenti langganan pengumuman ya")
    assert [o.source for o in await rows(demo_services, BroadcastOptout)] == ["unsubscribe"]
    async with demo_services.db.session() as s:
        assert (await count(s, Segment(audience="linked")))["total"] == 0


async def test_stop_keyword_while_waiting_for_staff(webchat: WebChat, demo_services: Any) -> None:
    from storage.broadcast_models import BroadcastOptout

    await webchat.say_text("saya mau bicara dengan petugas")
    out = await webchat.say_text("stop")
    assert "tidak akan menerima pengumuman lagi" in out
    [conv] = await rows(demo_services, Conversation)
    assert conv.mode == "waiting_staff" and len(await rows(demo_services, BroadcastOptout)) == 1


async def test_office_question_shows_hours_from_the_rules_file(webchat: WebChat) -> None:
    out = await webchat.say_text("jam buka kantor kapan?")
    assert "Senin-Kamis 08.00-16.00 WIB, Jumat 08.00-16.30 WIB" in out


async def test_minang_answers_are_understood_through_the_nlu_normalisation(webchat: WebChat) -> None:
    # 'amak alah maningga' = ibu sudah meninggal: the pembatalan variant is taken from the first message
    out = await webchat.say_text("ambo nio batal haji, amak alah maningga")
    assert "beralih ke pelimpahan" in out
    # 'syaratnyo apo se' = syaratnya apa saja: the checklist is shown mid-flow, then the question again
    out = await webchat.say_text("bia ambo cek dulu syaratnyo apo se")
    assert "Syarat Pembatalan" in out and "beralih ke pelimpahan" in out
    out = await webchat.say_text("indak, batal se")
    assert "nomor porsi" in out
    # 'lahia' = lahir: the birth date after the porsi number is taken as the verification answer
    out = await webchat.say_text("0312345678 lahia 05-06-1960")
    assert "wafat" in out.lower()
