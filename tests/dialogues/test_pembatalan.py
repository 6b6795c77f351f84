from sqlalchemy import select

from storage.models import AuditLog, Case, CaseDocument
from tests.dialogues.conftest import Chat, make_pdf, make_photo


async def run_deceased_until_documents(chat: Chat) -> str:
    await chat.say("saya mau membatalkan porsi", parse={"intent": {"name": "cancel_registration", "confidence": 0.9}})
    out = await chat.say("2")  # jemaah meninggal
    assert "pelimpahan" in out.lower()
    out = await chat.say("tidak")
    assert "nomor porsi" in out.lower()
    out = await chat.say("porsi 0312-345-678 lahir 03/05/1960")
    assert "wafat" in out.lower()
    out = await chat.say("tgl 14 agst 25")
    assert "ahli waris" in out.lower()
    await chat.say("Ahmad Fauzi")
    await chat.say("anak kandung")
    out = await chat.say("BSI")
    await chat.say("Ahmad Fauzi")
    out = await chat.say("7123 4567 89")
    assert "Dokumen 1 dari 13" in out
    return out


async def test_deceased_cancellation_end_to_end(chat: Chat, db) -> None:
    await run_deceased_until_documents(chat)
    out = await chat.say(files=[make_photo(seed=1)])
    assert "Diterima" in out
    out = await chat.say(files=[make_photo(seed=2)])
    assert "2 berkas" in out
    out = await chat.say("selesai")
    assert "Dokumen 2 dari 13" in out
    out = await chat.say(files=[make_pdf(3)])
    assert "Diterima" in out
    out = await chat.say("selesai")
    for i in range(3, 14):
        if 'ketik "lewati"' in out:
            out = await chat.say("lewati")
            continue
        out = await chat.say(files=[make_photo(seed=10 + i)])
        assert "Diterima" in out, (i, out)
        out = await chat.say("selesai")
    assert "Ringkasan" in out and "14 Agustus 2025" in out and "Ahmad Fauzi" in out
    out = await chat.say("ya")
    assert "PBT-2026-00001" in out
    async with db.session() as s:
        case = (await s.execute(select(Case))).scalar_one()
        docs = (await s.execute(select(CaseDocument).where(CaseDocument.case_id == case.id))).scalars().all()
        audit = (await s.execute(select(AuditLog).where(AuditLog.case_id == case.id))).scalars().all()
    assert case.ticket == "PBT-2026-00001" and case.status == "submitted" and case.variant == "meninggal"
    assert case.nomor_porsi == "0312345678" and case.applicant_name == "Ahmad Fauzi"
    assert case.answers["death_date"] == "2025-08-14" and case.answers["account_number"] == "7123456789"
    assert "identity" not in case.answers
    assert case.answers["_documents"]["surat_permohonan"]["files"] == 2
    assert case.answers["_documents"]["bukti_transfer"]["status"] == "skipped"
    uploaded = [d for d in docs if d.status != "generated"]
    assert len(uploaded) == 12 and {d.status for d in uploaded} == {"received"}
    # the ready-to-sign surat permohonan and SPTJM of the heir are attached too (tests/dialogues/test_letters.py)
    assert sorted(d.item_key for d in docs if d.status == "generated") == ["letter:sptjm", "letter:surat_permohonan"]
    pdf = next(d for d in uploaded if d.content_type == "application/pdf")
    assert pdf.page_count == 3 and len(pdf.sha256) == 64
    assert [a.action for a in audit] == ["case_created", "case.letters_generated"]
    assert {a.actor for a in audit} == {"bot"}
    conv = await chat.conversation()
    assert conv.state.get("flow") is None


async def test_bad_files_are_refused(chat: Chat, db) -> None:
    await run_deceased_until_documents(chat)
    out = await chat.say(files=[b"GIF89a" + b"\0" * 100])
    assert "tidak dapat kami terima" in out
    out = await chat.say(files=[make_photo(sharp=False)])
    assert "buram" in out
    out = await chat.say(files=[make_photo(size=(300, 200))])
    assert "terlalu kecil" in out
    out = await chat.say(files=[b"%PDF-1.4 garbage"])
    assert "tidak dapat dibuka" in out
    async with db.session() as s:
        assert (await s.execute(select(CaseDocument))).scalars().all() == []
    out = await chat.say("selesai")
    assert "Belum ada berkas" in out


async def test_replace_document(chat: Chat, db) -> None:
    await run_deceased_until_documents(chat)
    await chat.say(files=[make_photo(seed=1)])
    out = await chat.say("selesai")
    assert "Dokumen 2 dari 13" in out
    out = await chat.say("ganti surat permohonan")
    assert "Dokumen 1 dari 13" in out
    await chat.say(files=[make_photo(seed=5)])
    out = await chat.say("selesai")
    assert "Dokumen 2 dari 13" in out
    async with db.session() as s:
        docs = (await s.execute(select(CaseDocument).order_by(CaseDocument.id))).scalars().all()
    assert [d.status for d in docs] == ["replaced", "received"]


async def test_self_cancellation_offers_transfer_when_sick_and_switches(chat: Chat) -> None:
    await chat.say("batal", parse={"intent": {"name": "cancel_registration", "confidence": 0.9}})
    await chat.say("saya sendiri")
    out = await chat.say("sakit")
    assert "pelimpahan" in out.lower()
    out = await chat.say("iya")
    assert "pelimpahan porsi" in out and "nomor porsi" in out.lower()
    conv = await chat.conversation()
    assert conv.state["flow"] == "pelimpahan" and conv.state["slots"]["reason"] == "sakit_permanen"


async def test_already_cancelled_porsi(chat: Chat) -> None:
    await chat.say("batal", parse={"intent": {"name": "cancel_registration", "confidence": 0.9}})
    await chat.say("1")
    await chat.say("ekonomi")
    out = await chat.say("0312345681")
    assert "dibatalkan" not in out
    out = await chat.say("15-06-1965")
    assert "sudah berstatus dibatalkan" in out


async def test_free_text_reason_and_answers_for_later_questions(chat: Chat) -> None:
    await chat.say("batal", parse={"intent": {"name": "cancel_registration", "confidence": 0.9}})
    out = await chat.say("untuk saya sendiri")
    assert "alasan" in out.lower()
    out = await chat.say("mau pindah domisili ke luar negeri")
    assert "nomor porsi" in out.lower()
    conv = await chat.conversation()
    assert conv.state["slots"]["reason"] == "lainnya"
    assert conv.state["slots"]["reason_detail"] == "mau pindah domisili ke luar negeri"


async def test_porsi_given_while_another_question_is_open(chat: Chat) -> None:
    await chat.say("batal", parse={"intent": {"name": "cancel_registration", "confidence": 0.9}})
    out = await chat.say("0312345678")
    assert "sudah kami catat" in out and "keadaan jemaah" in out
    await chat.say("saya sendiri")
    out = await chat.say("ekonomi")
    assert "tanggal lahir" in out  # porsi was kept


async def test_crash_during_case_creation_leaves_nothing(chat: Chat, db, monkeypatch) -> None:
    import pytest

    from dialogues import actions

    out = await run_deceased_until_documents(chat)
    for _ in range(13):
        if 'ketik "lewati"' in out:
            out = await chat.say("lewati")
        else:
            await chat.say(files=[make_photo()])
            out = await chat.say("selesai")
    assert "Ringkasan" in out

    def boom(**kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(actions, "AuditLog", boom)
    with pytest.raises(RuntimeError):
        await chat.say("ya")
    async with db.session() as s:
        assert (await s.execute(select(Case))).scalars().all() == []
        assert all(d.case_id is None for d in (await s.execute(select(CaseDocument))).scalars().all())
    monkeypatch.undo()
    out = await chat.say("ya")  # the state was not advanced: the same confirmation works again
    assert "PBT-2026-00001" in out


async def test_account_details_in_one_message(chat: Chat) -> None:
    await chat.say("batal", parse={"intent": {"name": "cancel_registration", "confidence": 0.9}})
    await chat.say("masih hidup")
    await chat.say("ekonomi")
    await chat.say("0312345678")
    out = await chat.say("03051960")
    assert "nama bank" in out.lower()
    out = await chat.say("BSI")
    out = await chat.say("atas nama Siti Aminah, rekening 7123456789")
    assert "Dokumen 1 dari 6" in out
    conv = await chat.conversation()
    assert conv.state["slots"]["account_holder"] == "Siti Aminah"
    assert conv.state["slots"]["account_number"] == "7123456789"


async def test_self_cancellation_case_names_the_pilgrim(chat: Chat, db) -> None:
    await chat.say("batal", parse={"intent": {"name": "cancel_registration", "confidence": 0.9}})
    await chat.say("masih hidup")
    await chat.say("ekonomi")
    await chat.say("0312345678 lahir 3 Mei 1960")
    await chat.say("BSI")
    await chat.say("Siti Aminah")
    out = await chat.say("7123456789")
    for _ in range(6):
        if 'ketik "lewati"' in out:
            out = await chat.say("lewati")
        else:
            await chat.say(files=[make_photo()])
            out = await chat.say("selesai")
    out = await chat.say("ya")
    assert "PBT-2026-00001" in out
    async with db.session() as s:
        case = (await s.execute(select(Case))).scalar_one()
    assert case.applicant_name == "Siti Aminah Rahman" and case.variant == "sendiri"
    assert case.answers["reason"] == "ekonomi" and case.answers["_documents"]["bukti_transfer"]["status"] == "skipped"
