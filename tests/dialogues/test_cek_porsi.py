from datetime import timedelta

from sqlalchemy import select

from storage.models import VerificationAttempt
from tests.dialogues.conftest import NOW, Chat

CHECK = {"intent": {"name": "check_porsi", "confidence": 0.95}}


async def test_all_answers_in_one_message(chat: Chat) -> None:
    out = await chat.say("cek porsi 0312345678 lahir 3 Mei 1960", parse=CHECK)
    assert "SITI A***" in out and "Aktif" in out and "2041 M" in out
    assert "Aminah" not in out


async def test_last_four_nik(chat: Chat) -> None:
    out = await chat.say("mau cek porsi", parse=CHECK)
    assert "10 angka" in out
    out = await chat.say("0312 345 678")
    assert "4 angka terakhir NIK" in out
    out = await chat.say("0002")
    assert "SITI A***" in out


async def test_unknown_porsi_is_asked_to_verify_then_handoff_offer(chat: Chat) -> None:
    """An unknown number is not told apart right away: the verification comes first, and its failure
    says that the number with that birth date is not found (the same wording as a wrong birth date)."""
    await chat.say("cek porsi", parse=CHECK)
    out = await chat.say("0399999999")
    assert "tanggal lahir" in out and "tidak kami temukan" not in out
    out = await chat.say("3 Mei 1960")
    assert "tidak cocok" in out and "tidak kami temukan" in out and "ubah nomor porsi" in out
    out = await chat.say("ubah nomor porsi")
    assert "10 angka" in out
    out = await chat.say("0399999998")
    assert "tanggal lahir" in out
    out = await chat.say("4 Mei 1960")
    assert "tidak cocok" in out
    out = await chat.say("5 Mei 1960")
    assert "petugas" in out  # third failure at the question: hand-off offered
    out = await chat.say("tidak")
    assert "tanggal lahir" in out


async def test_wrong_birth_date_then_right(chat: Chat) -> None:
    await chat.say("cek porsi 0312345678", parse=CHECK)
    out = await chat.say("4 Mei 1960")
    assert "tidak cocok" in out and "SITI" not in out
    out = await chat.say("03-05-1960")
    assert "SITI A***" in out


async def test_wait_after_five_failures_is_this_chats_alone(chat: Chat, db) -> None:
    await chat.say("cek porsi 0312345678", parse=CHECK)
    for day in (1, 2):
        out = await chat.say(f"{day} Januari 1970")
        assert "tidak cocok" in out
    out = await chat.say("3 Januari 1970")
    assert "petugas" in out  # third failure: hand-off offered
    out = await chat.say("tidak")
    out = await chat.say("4 Januari 1970")
    assert "tidak cocok" in out
    out = await chat.say("5 Januari 1970")
    assert "tidak cocok" in out and "coba lagi dalam 5 menit" in out
    # Even the right answer waits now in this chat ...
    out = await chat.say("cek porsi 0312345678 lahir 3 Mei 1960", parse=CHECK)
    assert "coba lagi dalam 5 menit" in out and "SITI" not in out
    # ... but another chat is not held up by this one's failures.
    other = Chat(chat.db, chat.engine, chat.store, user="u2")
    out = await other.say("cek porsi 0312345678 lahir 3 Mei 1960", parse=CHECK)
    assert "SITI A***" in out
    # Five minutes later it works again here too.
    out = await chat.say("cek porsi 0312345678 lahir 3 Mei 1960", parse=CHECK, now=NOW + timedelta(minutes=6))
    assert "SITI A***" in out
    async with db.session() as s:
        rows = (await s.execute(select(VerificationAttempt))).scalars().all()
    assert sum(not r.success for r in rows) == 5 and sum(r.success for r in rows) == 2


async def test_failures_across_porsi_numbers_count_for_the_chat(chat: Chat) -> None:
    for porsi in ("0311111111", "0311111112", "0311111113", "0311111114", "0311111115"):
        out = await chat.say(f"cek porsi {porsi} lahir 1 Januari 1970", parse=CHECK)
        assert "tidak cocok" in out
        await chat.say("stop")
        await chat.say("ya")
    out = await chat.say("cek porsi 0312345678", parse=CHECK)
    assert "coba lagi dalam" in out and "tanggal lahir jemaah (contoh" not in out


async def test_delays_grow_with_more_failures(chat: Chat) -> None:
    now = NOW
    for day in range(1, 6):
        out = await chat.say(f"cek porsi 0312345678 lahir {day} Januari 1970", parse=CHECK, now=now)
        if "dibantu petugas" in out:
            await chat.say("tidak", now=now)
    assert "5 menit" in out
    now += timedelta(minutes=6)
    out = await chat.say("cek porsi 0312345678 lahir 6 Januari 1970", parse=CHECK, now=now)
    assert "tidak cocok" in out and "10 menit" in out
    now += timedelta(minutes=11)
    out = await chat.say("cek porsi 0312345678 lahir 7 Januari 1970", parse=CHECK, now=now)
    assert "20 menit" in out
    # the right answer after the wait
    now += timedelta(minutes=21)
    out = await chat.say("cek porsi 0312345678 lahir 3 Mei 1960", parse=CHECK, now=now)
    assert "SITI A***" in out
