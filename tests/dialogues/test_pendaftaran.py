from datetime import datetime, timezone

from sqlalchemy import select

from storage.models import Appointment, Case
from tests.dialogues.conftest import Chat

REGISTER = {"intent": {"name": "register_hajj", "confidence": 0.95}}


async def answer_until_slots(chat: Chat) -> str:
    out = await chat.say("saya mau daftar haji", parse=REGISTER)
    assert "tanggal lahir" in out
    out = await chat.say("12/03/1985")
    assert "Kota Bukittinggi" in out
    await chat.say("iya")
    await chat.say("belum")
    out = await chat.say("tidak pernah")
    assert "Rp25.000.000" in out and "sudah" in out.lower()
    out = await chat.say("sudah")
    assert "nama lengkap" in out
    await chat.say("Dewi Sartika")
    out = await chat.say("1375014303850001")
    assert "memeriksa dokumen" in out
    return await chat.say("tidak")


async def test_registration_books_a_slot(chat: Chat, db) -> None:
    out = await answer_until_slots(chat)
    assert "Pilih jadwal" in out
    reply = (await chat.send("1"))
    text = "\n".join(r.text for r in reply)
    assert "Ringkasan pendaftaran" in text and "Dewi Sartika" in text
    out = await chat.say("ya")
    assert "REG-2026-00001" in out
    async with db.session() as s:
        case = (await s.execute(select(Case))).scalar_one()
        appt = (await s.execute(select(Appointment))).scalar_one()
    assert case.service == "pendaftaran" and appt.case_id == case.id and appt.status == "booked"
    # first offered slot: Wednesday 25 Nov 2026 08:30 WIB (Tuesday 10:00 now + 18 h lead)
    assert appt.slot_start == datetime(2026, 11, 25, 1, 30, tzinfo=timezone.utc)


async def test_full_slot_is_not_offered(chat: Chat, db) -> None:
    first = datetime(2026, 11, 25, 1, 30, tzinfo=timezone.utc)
    async with db.session() as s, s.begin():
        for _ in range(4):
            s.add(Appointment(slot_start=first, purpose="pendaftaran", status="booked"))
    out = await answer_until_slots(chat)
    assert "Rabu, 25 November 2026 pukul 08.30" not in out
    assert "Rabu, 25 November 2026 pukul 10.00" in out


async def test_slot_taken_between_offer_and_confirm(chat: Chat, db) -> None:
    await answer_until_slots(chat)
    await chat.say("1")
    first = datetime(2026, 11, 25, 1, 30, tzinfo=timezone.utc)
    async with db.session() as s, s.begin():
        for _ in range(4):
            s.add(Appointment(slot_start=first, purpose="pendaftaran", status="booked"))
    out = await chat.say("ya")
    assert "baru saja penuh" in out and "Pilih jadwal" in out
    out = await chat.say("1")
    out = await chat.say("ya")
    assert "REG-2026-00001" in out


async def test_too_young(chat: Chat) -> None:
    await chat.say("daftar haji", parse=REGISTER)
    out = await chat.say("1 Januari 2020")
    assert "minimal 12 tahun" in out


async def test_other_domicile(chat: Chat) -> None:
    await chat.say("daftar haji", parse=REGISTER)
    await chat.say("1 Januari 1980")
    out = await chat.say("ndak")
    assert "domisili KTP" in out


async def test_precheck_documents_optional(chat: Chat) -> None:
    await chat.say("daftar haji", parse=REGISTER)
    for answer in ("1 Januari 1980", "ya", "tidak", "tidak", "sudah", "Dewi Sartika", "1375014303850001"):
        await chat.say(answer)
    out = await chat.say("ya")
    assert "Dokumen 1 dari 5" in out and "lewati" in out
    for _ in range(5):
        out = await chat.say("lewati")
    assert "Pilih jadwal" in out


async def test_concurrent_confirmations_get_distinct_tickets(db, engine, store) -> None:
    import asyncio

    chats = [Chat(db, engine, store, user=f"c{i}") for i in range(4)]
    for c in chats:
        await answer_until_slots(c)
        await c.say(str(chats.index(c) + 1))
    outs = await asyncio.gather(*(c.say("ya") for c in chats))
    tickets = sorted(o.split("nomor tiket ")[1][:14] for o in outs)
    assert tickets == [f"REG-2026-0000{i}" for i in range(1, 5)]
    async with db.session() as s:
        assert len((await s.execute(select(Appointment))).scalars().all()) == 4


async def test_concurrent_bookings_respect_capacity(db, engine, store) -> None:
    import asyncio

    chats = [Chat(db, engine, store, user=f"k{i}") for i in range(5)]
    for c in chats:
        await answer_until_slots(c)
        await c.say("1")  # everyone picks the same slot (capacity 4)
    outs = await asyncio.gather(*(c.say("ya") for c in chats))
    assert sum("REG-2026-" in o for o in outs) == 4
    assert sum("baru saja penuh" in o for o in outs) == 1
    async with db.session() as s:
        appts = (await s.execute(select(Appointment))).scalars().all()
        cases = (await s.execute(select(Case))).scalars().all()
    assert len(appts) == 4 and len({a.slot_start for a in appts}) == 1
    assert sorted(c.ticket for c in cases) == [f"REG-2026-0000{i}" for i in range(1, 5)]


async def test_tidak_usah_is_a_no_not_a_stop(chat: Chat) -> None:
    await chat.say("daftar haji", parse=REGISTER)
    for answer in ("1 Januari 1980", "ya", "tidak", "tidak", "sudah", "Dewi Sartika", "1375014303850001"):
        await chat.say(answer)
    out = await chat.say("tidak usah")
    assert "Pilih jadwal" in out


async def test_slot_by_day_and_hour(chat: Chat, db) -> None:
    out = await answer_until_slots(chat)
    assert "Kamis, 26 November 2026 pukul 10.00" in out
    out = await chat.say("yang kamis jam 10 saja")
    assert "Kamis, 26 November 2026 pukul 10.00" in out and "Ringkasan" in out


async def test_nik_on_the_waiting_list_is_not_told_to_a_stranger(chat: Chat) -> None:
    """No NIK oracle: an anonymous chat gets the same neutral note for a NIK on the waiting list as for any."""
    await chat.say("daftar haji", parse=REGISTER)
    for answer in ("1 Januari 1980", "ya", "tidak", "tidak", "sudah", "Siti Aminah"):
        await chat.say(answer)
    out = await chat.say("1375014305600002")
    assert "sudah tercatat" not in out and "mencocokkan NIK" in out and "memeriksa dokumen" in out


async def test_nik_already_on_the_waiting_list_told_to_the_verified_pilgrim(chat: Chat) -> None:
    out = await chat.say("cek porsi 0312345678 lahir 3 Mei 1960", parse={"intent": {"name": "check_porsi", "confidence": 0.95}})
    assert "SITI A***" in out
    await chat.say("daftar haji", parse=REGISTER)
    for answer in ("3 Mei 1960", "ya", "tidak", "tidak", "sudah", "Siti Aminah Rahman"):
        await chat.say(answer)
    out = await chat.say("1375014305600002")
    assert "sudah tercatat dalam daftar tunggu" in out
    assert (await chat.conversation()).state.get("flow") is None


async def test_skip_all_optional_documents(chat: Chat) -> None:
    await chat.say("daftar haji", parse=REGISTER)
    for answer in ("1 Januari 1980", "ya", "tidak", "tidak", "sudah", "Dewi Sartika", "1375014303850001", "ya"):
        out = await chat.say(answer)
    assert "Dokumen 1 dari 5" in out
    out = await chat.say("lewati semua")
    assert "Pilih jadwal" in out and "Kartu Keluarga" in out
