from sqlalchemy import select

from storage.models import Case, CaseDocument
from tests.dialogues.conftest import Chat, make_photo, transcript

TRANSFER = {"intent": {"name": "transfer_porsi", "confidence": 0.95}}


async def start_deceased(chat: Chat, porsi: str = "0312345678", dob: str = "3 Mei 1960") -> str:
    out = await chat.say("mau limpahkan porsi ibu saya", parse=TRANSFER)
    assert "alasan" in out.lower()
    out = await chat.say("ibu saya sudah meninggal")
    assert "nomor porsi" in out.lower()
    await chat.say(porsi)
    return await chat.say(dob)


async def test_transfer_happy_path(chat: Chat, db) -> None:
    out = await start_deceased(chat)
    assert "wafat" in out
    out = await chat.say("14-8-2025")
    assert "nama lengkap penerima" in out
    await chat.say("Rina Marlina")
    out = await chat.say("NIK 1375 0145 0890 0001")
    assert "tanggal lahir penerima" in out.lower()
    out = await chat.say("5 Agustus 1990")
    assert "hubungan" in out.lower()
    out = await chat.say("anak kandung")
    assert "Dokumen 1 dari 10" in out
    for _ in range(10):
        if 'ketik "lewati"' in out:
            out = await chat.say("lewati")
            continue
        await chat.say(files=[make_photo()])
        out = await chat.say("selesai")
    assert "Ringkasan pengajuan pelimpahan" in out and "Anak kandung" in out and "14 Agustus 2025" in out
    out = await chat.say("betul")
    assert "PLH-2026-00001" in out
    async with db.session() as s:
        case = (await s.execute(select(Case))).scalar_one()
        n = len((await s.execute(select(CaseDocument).where(CaseDocument.case_id == case.id,
                                                            CaseDocument.status != "generated"))).scalars().all())
    assert case.service == "pelimpahan" and case.variant == "meninggal"
    assert case.answers["recipient_nik"] == "1375014508900001"
    assert case.answers["recipient_relationship"] == "anak_kandung"
    assert case.answers["_checklist"] == "pelimpahan_meninggal"
    assert n == 8, transcript(chat)  # 8 required items; one photo each (same bytes are fine: content-addressed)


async def test_death_before_cutoff_is_refused(chat: Chat, db) -> None:
    await start_deceased(chat)
    out = await chat.say("10/01/2019")
    assert "29 April 2019" in out and "UU 8/2019" in out and "pembatalan" in out
    conv = await chat.conversation()
    assert conv.state.get("flow") is None


async def test_ineligible_relationship_then_valid(chat: Chat) -> None:
    await start_deceased(chat)
    await chat.say("1 Juni 2024")
    await chat.say("Budi Santoso")
    await chat.say("1375010101900001")
    await chat.say("1 Januari 1990")
    out = await chat.say("keponakan")
    assert "hanya dapat dilimpahkan kepada" in out and "Saudara seibu" in out
    out = await chat.say("cucu")
    assert "hanya dapat dilimpahkan" in out
    out = await chat.say("3")  # Ayah kandung, by number
    assert "Dokumen 1" in out


async def test_recipient_too_young(chat: Chat) -> None:
    await start_deceased(chat)
    await chat.say("1 Juni 2024")
    await chat.say("Budi Santoso")
    await chat.say("1375010101900001")
    out = await chat.say("1 Januari 2020")
    assert "minimal 12 tahun" in out


async def test_already_transferred(chat: Chat) -> None:
    out = await chat.say("pelimpahan", parse=TRANSFER)
    await chat.say("sakit permanen")
    out = await chat.say("0312345680")
    assert "dilimpahkan" not in out  # nothing is told before the identity check
    out = await chat.say("12 Desember 1950")
    assert "sudah pernah dilimpahkan" in out and "satu kali" in out


async def test_correction_of_recipient_nik(chat: Chat) -> None:
    await start_deceased(chat)
    await chat.say("1 Juni 2024")
    await chat.say("Budi Santoso")
    await chat.say("1375010101900001")
    out = await chat.say("NIK saya salah")
    assert "NIK penerima" in out and "16 angka" in out
    out = await chat.say("1375010101900002")
    assert "tanggal lahir penerima" in out.lower()
    conv = await chat.conversation()
    assert conv.state["slots"]["recipient_nik"] == "1375010101900002"


async def test_summary_no_then_change_field(chat: Chat) -> None:
    await start_deceased(chat)
    await chat.say("1 Juni 2024")
    await chat.say("Budi Santoso")
    await chat.say("1375010101900001")
    await chat.say("1 Januari 1990")
    out = await chat.say("suami")
    for _ in range(10):
        if 'ketik "lewati"' in out:
            out = await chat.say("lewati")
        else:
            await chat.say(files=[make_photo()])
            out = await chat.say("selesai")
    assert "Ringkasan" in out
    out = await chat.say("tidak")
    assert "Bagian mana" in out
    conv = await chat.conversation()
    labels = [o["label"] for o in conv.state["pending"]["options"]]
    out = await chat.say(str(labels.index("Nama penerima") + 1))
    assert "nama lengkap penerima" in out
    out = await chat.say("Budi Santosa")
    assert "Ringkasan" in out and "Budi Santosa" in out


async def test_several_answers_in_one_message(chat: Chat) -> None:
    await chat.say("pelimpahan", parse=TRANSFER)
    await chat.say("meninggal")
    out = await chat.say("porsi 0312345678, lahir 3 Mei 1960, wafat 14 Agustus 2025")
    assert "nama lengkap penerima" in out
    conv = await chat.conversation()
    assert conv.state["slots"]["death_date"] == "2025-08-14"


async def test_keyword_date_wins_over_first_date(chat: Chat) -> None:
    await start_deceased(chat)
    out = await chat.say("beliau lahir 3 Mei 1960 dan wafat 2 Februari 2024")
    assert "nama lengkap penerima" in out
    conv = await chat.conversation()
    assert conv.state["slots"]["death_date"] == "2024-02-02"


async def test_recipient_nik_must_not_be_the_owners(chat: Chat, db) -> None:
    await start_deceased(chat)
    await chat.say("1 Juni 2024")
    await chat.say("Rina Marlina")
    out = await chat.say("1375014305600002")  # the porsi owner's own NIK
    assert "NIK pemilik nomor porsi" in out and "NIK penerima" in out
    conv = await chat.conversation()
    assert "recipient_nik" not in conv.state["slots"]
    out = await chat.say("1375014508900001")
    assert "tanggal lahir penerima" in out.lower()
