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


async def test_unknown_porsi_then_handoff_offer(chat: Chat) -> None:
    await chat.say("cek porsi", parse=CHECK)
    out = await chat.say("0399999999")
    assert "tidak kami temukan" in out and "10 angka" in out
    out = await chat.say("12345")
    assert "10 angka" in out
    out = await chat.say("abc")
    assert "petugas" in out
    out = await chat.say("tidak")
    assert "nomor porsi" in out.lower()


async def test_wrong_birth_date_then_right(chat: Chat) -> None:
    await chat.say("cek porsi 0312345678", parse=CHECK)
    out = await chat.say("4 Mei 1960")
    assert "tidak cocok" in out and "SITI" not in out
    out = await chat.say("03-05-1960")
    assert "SITI A***" in out


async def test_lockout_after_five_failures(chat: Chat, db) -> None:
    await chat.say("cek porsi 0312345678", parse=CHECK)
    for day in (1, 2):
        out = await chat.say(f"{day} Januari 1970")
        assert "tidak cocok" in out
    out = await chat.say("3 Januari 1970")
    assert "petugas" in out  # third failure: hand-off offered
    out = await chat.say("tidak")
    for day in (4,):
        out = await chat.say(f"{day} Januari 1970")
        assert "tidak cocok" in out
    out = await chat.say("5 Januari 1970")
    assert "dikunci" in out
    # Even the right answer is refused now, also for another user trying the same porsi.
    out = await chat.say("cek porsi 0312345678", parse=CHECK)
    assert "dikunci" in out
    other = Chat(chat.db, chat.engine, chat.store, user="u2")
    out = await other.say("cek porsi 0312345678", parse=CHECK)
    assert "dikunci" in out
    # An hour later it works again.
    later = NOW + timedelta(hours=1, minutes=1)
    out = await other.say("cek porsi 0312345678 lahir 3 Mei 1960", parse=CHECK, now=later)
    assert "SITI A***" in out
    async with db.session() as s:
        rows = (await s.execute(select(VerificationAttempt))).scalars().all()
    assert sum(not r.success for r in rows) == 5


async def test_user_lockout_across_porsi_numbers(chat: Chat) -> None:
    for porsi in ("0311111111", "0311111112", "0311111113", "0311111114", "0311111115"):
        await chat.say("stop")
        await chat.say("ya")
        await chat.say(f"cek porsi {porsi}", parse=CHECK)
    out = await chat.say("stop")
    await chat.say("ya")
    out = await chat.say("cek porsi 0312345678", parse=CHECK)
    assert "dikunci" in out


async def test_lock_lasts_an_hour_after_the_fifth_failure(chat: Chat) -> None:
    await chat.say("cek porsi 0312345678", parse=CHECK)
    for minute in (0, 10, 20, 30, 50):
        out = await chat.say(f"{minute + 1} Januari 1970", now=NOW + timedelta(minutes=minute))
        if "dibantu petugas" in out:
            await chat.say("tidak", now=NOW + timedelta(minutes=minute))
    assert "dikunci" in out
    # 65 minutes after the first failure but only 15 after the fifth: still locked
    out = await chat.say("cek porsi 0312345678 lahir 3 Mei 1960", parse=CHECK, now=NOW + timedelta(minutes=65))
    assert "dikunci" in out
    out = await chat.say("cek porsi 0312345678 lahir 3 Mei 1960", parse=CHECK, now=NOW + timedelta(minutes=111))
    assert "SITI A***" in out
