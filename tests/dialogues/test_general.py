from datetime import timedelta

from sqlalchemy import select

from storage.models import Case, CaseDocument
from tests.dialogues.conftest import NOW, Chat, make_photo
from tests.dialogues.test_pembatalan import run_deceased_until_documents

CHECK = {"intent": {"name": "check_porsi", "confidence": 0.95}}


def intent(name: str, confidence: float = 0.9, **extra) -> dict:
    return {"intent": {"name": name, "confidence": confidence}, "entities": [], **extra}


async def test_menu_by_number_and_words(chat: Chat) -> None:
    out = await chat.say("menu", parse=intent("menu"))
    assert "(1) Cek nomor porsi" in out
    out = await chat.say("2")
    assert "keadaan jemaah" in out


async def test_menu_words_without_nlu(chat: Chat) -> None:
    out = await chat.say("pelimpahan")
    assert "alasan pelimpahan" in out


async def test_info_answers(chat: Chat) -> None:
    assert "Rp25.000.000" in await chat.say("berapa biaya haji?", parse=intent("ask_cost"))
    assert "Jl. Contoh 1" in await chat.say("alamat kantor dimana?", parse=intent("ask_office"))
    assert "Senin-Jumat" in await chat.say("jam buka?", parse=intent("ask_schedule"))
    out = await chat.say("6")
    assert "Info apa" in out
    assert "Rp25.000.000" in await chat.say("1")


async def test_faq_from_nlu(chat: Chat) -> None:
    parse = intent("faq", response_selector={"faq": {"response": {"responses": [{"text": "Bisa, di bank BPS."}]}}})
    assert "Bisa, di bank BPS." in await chat.say("bisa setor di bank lain?", parse=parse)


async def test_faq_mid_flow_then_resume(chat: Chat) -> None:
    await chat.say("cek porsi", parse=CHECK)
    parse = intent("faq", response_selector={"faq": {"response": {"responses": [{"text": "Masa tunggu 24 tahun."}]}}})
    out = await chat.say("berapa lama antrean haji?", parse=parse)
    assert "Masa tunggu 24 tahun." in out and "nomor porsi" in out
    out = await chat.say("berapa biayanya?")  # no NLU: own keywords
    assert "Rp25.000.000" in out and "nomor porsi" in out
    out = await chat.say("0312345678")
    assert "tanggal lahir" in out


async def test_subscribe_and_unsubscribe(chat: Chat) -> None:
    assert "pengumuman" in await chat.say("langganan info dong", parse=intent("subscribe"))
    assert (await chat.conversation()).subscribed is True
    await chat.say("berhenti langganan")
    assert (await chat.conversation()).subscribed is False


async def test_handoff_sets_mode_and_office_hours(chat: Chat) -> None:
    out = await chat.say("saya mau bicara dengan petugas", parse=intent("human_handoff"))
    assert "petugas" in out and "jam layanan" in out
    conv = await chat.conversation()
    assert conv.mode == "waiting_staff" and conv.handoff_since is not None


async def test_handoff_outside_hours_names_next_opening(chat: Chat) -> None:
    saturday = NOW + timedelta(days=4)  # Saturday 28 Nov 2026
    out = await chat.say("petugas", now=saturday)
    assert "Senin, 30 November 2026 pukul 08.00" in out


async def test_photo_when_text_expected(chat: Chat) -> None:
    await chat.say("cek porsi", parse=CHECK)
    out = await chat.say(files=[make_photo()])
    assert "berupa tulisan" in out and "nomor porsi" in out


async def test_photo_outside_a_flow(chat: Chat) -> None:
    out = await chat.say(files=[make_photo()])
    assert "Pilih layanan dulu" in out


async def test_resume_after_window(chat: Chat) -> None:
    await chat.say("cek porsi", parse=CHECK)
    later = NOW + timedelta(hours=80)
    out = await chat.say("halo", now=later)
    assert "melanjutkan" in out
    out = await chat.say("lanjut", now=later)
    assert "nomor porsi" in out
    much_later = later + timedelta(hours=100)
    out = await chat.say("0312345678", now=much_later)
    assert "melanjutkan" in out
    out = await chat.say("mulai dari awal", now=much_later)
    assert "dari awal" in out and "nomor porsi" in out


async def test_stop_then_confirm(chat: Chat) -> None:
    await chat.say("cek porsi", parse=CHECK)
    out = await chat.say("gak jadi deh")
    assert "yakin" in out
    out = await chat.say("iya")
    assert "dihentikan" in out and "(1)" in out
    assert (await chat.conversation()).state.get("flow") is None


async def test_three_failures_offer_handoff_and_accept(chat: Chat) -> None:
    await chat.say("cek porsi", parse=CHECK)
    await chat.say("nomor saya lupa")
    await chat.say("123")
    out = await chat.say("hmm")
    assert "dibantu petugas" in out
    out = await chat.say("ya")
    conv = await chat.conversation()
    assert conv.mode == "waiting_staff"


async def test_not_understood_three_times_offers_handoff(chat: Chat) -> None:
    await chat.say("xyz", parse=intent("nlu_fallback", 0.2))
    await chat.say("qwe", parse=intent("nlu_fallback", 0.2))
    out = await chat.say("asd", parse=intent("nlu_fallback", 0.2))
    assert "dibantu petugas" in out


async def submit_case(chat: Chat) -> str:
    out = await run_deceased_until_documents(chat)
    for _ in range(13):
        if 'ketik "lewati"' in out:
            out = await chat.say("lewati")
        else:
            await chat.say(files=[make_photo()])
            out = await chat.say("selesai")
    out = await chat.say("ya")
    assert "PBT-2026-00001" in out
    return out


async def test_case_status_own_and_by_ticket(chat: Chat, engine, db) -> None:
    await submit_case(chat)
    out = await chat.say("status pengajuan saya", parse=intent("check_case_status"))
    assert "PBT-2026-00001" in out and "menunggu pemeriksaan" in out and "kurang" not in out
    other = Chat(chat.db, chat.engine, chat.store, user="u9")
    out = await other.say("cek status", parse=intent("check_case_status"))
    assert "nomor tiket" in out
    out = await other.say("pbt 2026 1")
    assert "tanggal lahir" in out and "Pembatalan" not in out  # another chat's ticket: verification first
    out = await other.say("3 Mei 1960")  # the pilgrim's birth date (e.g. a family member on another phone)
    assert "Tiket PBT-2026-00001" in out and "Pembatalan" in out
    out = await other.say("status PBT-2026-00099", parse=intent("check_case_status"))
    assert "tanggal lahir" in out and "tidak kami temukan" not in out
    out = await other.say("3 Mei 1960")
    assert "tidak kami temukan" in out


async def test_resend_requested_by_staff(chat: Chat, engine, db) -> None:
    await submit_case(chat)
    async with db.session() as s, s.begin():
        conv = await s.merge(await chat.conversation())
        case = (await s.execute(select(Case))).scalar_one()
        replies = await engine.request_document_resend(s, conv, case, "surat_kematian", "foto terpotong")
    assert "Surat keterangan kematian" in replies[0].text and "foto terpotong" in replies[0].text
    out = await chat.say(files=[make_photo(seed=77)])
    assert "sudah kami terima" in out
    async with db.session() as s:
        docs = (await s.execute(select(CaseDocument).where(CaseDocument.item_key == "surat_kematian")
                                .order_by(CaseDocument.id))).scalars().all()
    assert [d.status for d in docs] == ["replaced", "received"] and docs[1].case_id == docs[0].case_id
    out = await chat.say("terima kasih", parse=intent("thanks"))
    assert "Sama-sama" in out


async def test_status_reply_gives_the_expected_completion_and_a_stopped_clock(chat: Chat, engine, db) -> None:
    from dialogues.sla_hooks import expected_vars, pause_or_resume

    await submit_case(chat)
    async with db.session() as s:
        case = (await s.execute(select(Case).where(Case.ticket == "PBT-2026-00001"))).scalar_one()
        expected = expected_vars(case, engine.rules, engine.lexicon, engine.tz)
    assert expected["expected_date"] and expected["stage_due_date"]
    out = await chat.say("status pengajuan saya", parse=intent("check_case_status"))
    line = "PBT-2026-00001 - Pembatalan: diterima, menunggu pemeriksaan petugas, perkiraan selesai "
    assert line + expected["expected_date"] in out
    out = await chat.say("status PBT-2026-00001", parse=intent("check_case_status"))
    assert (f"Perkiraan selesai: {expected['expected_date']} (standar pelayanan: pemeriksaan di Kankemenag "
            f"paling lambat {expected['stage_due_date']}).") in out
    async with db.session() as s:  # staff asked for a missing document: the clock stands still
        case = (await s.execute(select(Case).where(Case.ticket == "PBT-2026-00001"))).scalar_one()
        case.status = "need_info"
        pause_or_resume(case, engine.rules, engine.tz, case.submitted_at)
        await s.commit()
    out = await chat.say("status PBT-2026-00001", parse=intent("check_case_status"))
    assert "Waktu layanan berhenti sementara sampai Bapak/Ibu mengirim kekurangan" in out
    assert "Perkiraan selesai:" not in out


async def test_render_for_notifications(engine) -> None:
    text = engine.render("case_detail", ticket="PBT-2026-00001", service_label="Pembatalan",
                         status_label="disetujui", submitted="1 Desember 2026", missing="")
    assert "PBT-2026-00001" in text


async def test_other_service_mid_flow_offers_switch(chat: Chat) -> None:
    await chat.say("batal", parse=intent("cancel_registration"))
    out = await chat.say("apa saja syarat pelimpahan?", parse=intent("transfer_porsi", 0.92))
    assert "beralih ke pengajuan pelimpahan porsi" in out
    out = await chat.say("ya")
    assert "alasan pelimpahan" in out
    assert (await chat.conversation()).state["flow"] == "pelimpahan"


async def test_question_mid_flow_answered_from_faq_selector(chat: Chat) -> None:
    await chat.say("cek porsi", parse=CHECK)
    selector = {"faq": {"response": {"responses": [{"text": "Masa tunggu Sumbar sekitar 24 tahun."}],
                                     "confidence": 0.55}}}
    out = await chat.say("berapa lama antrean haji?", parse=intent("check_porsi", 0.49, response_selector=selector))
    assert "24 tahun" in out and "nomor porsi" in out


async def test_exact_menu_word_beats_nlu(chat: Chat) -> None:
    out = await chat.say("info", parse=intent("menu", 0.58))
    assert "Info apa" in out


async def test_requirements_question_lists_checklists_and_offers_to_start(chat: Chat) -> None:
    out = await chat.say("apa saja syarat pelimpahan?", parse=intent("transfer_porsi", 0.92))
    assert "Syarat Pelimpahan karena jemaah meninggal" in out and "Akta kematian" in out
    assert "Ingin mulai pengajuan pelimpahan porsi sekarang?" in out
    out = await chat.say("ya")
    assert "alasan pelimpahan" in out


async def test_requirements_question_mid_flow(chat: Chat) -> None:
    await chat.say("daftar haji", parse=intent("register_hajj"))
    out = await chat.say("syaratnya apa saja?")
    assert "Syarat Pendaftaran haji reguler" in out and "tanggal lahir" in out
    out = await chat.say("syarat pembatalan apa saja?", parse=intent("cancel_registration", 0.95))
    assert "Pembatalan oleh jemaah sendiri" in out and "beralih ke pengajuan pembatalan" in out
    out = await chat.say("tidak")
    assert "tanggal lahir" in out


async def test_bare_porsi_or_ticket_without_nlu(chat: Chat) -> None:
    out = await chat.say("0312345678")
    assert "tanggal lahir" in out
    assert "berhenti mengisi formulir, atau berhenti menerima pengumuman" in await chat.say("stop")
    assert "yakin" in await chat.say("1")
    await chat.say("ya")
    out = await chat.say("PBT-2026-00007")
    assert "tanggal lahir" in out and "PBT-2026-00007" in out


async def test_notification_templates(engine) -> None:
    text = engine.render("notify_case_status", ticket="PLH-2026-00003", service_label="Pelimpahan",
                         status_label="sedang diperiksa petugas", note=None)
    assert "PLH-2026-00003" in text and "-\n" not in text  # a missing note leaves no empty line
    assert "Kota Bukittinggi" in engine.render("notify_case_approved", ticket="X", service_label="Pembatalan")


async def test_menu_words_with_affixes(chat: Chat) -> None:
    out = await chat.say("batalkan", parse=intent("nlu_fallback", 0.3))
    assert "keadaan jemaah" in out
