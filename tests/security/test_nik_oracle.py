"""The pendaftaran NIK step, as a prober would use it: typing NIKs to learn who is on the waiting list."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from storage.models import Case
from tests.dialogues.conftest import Chat, db, engine, store  # noqa: F401 - fixtures

REGISTER = {"intent": {"name": "register_hajj", "confidence": 0.95}}
ON_LIST, NEW = "1375014305600002", "1375014303850001"  # Siti Aminah (registered) / a new applicant


async def to_nik_step(chat: Chat, name: str = "Dewi Sartika", dob: str = "12/03/1985") -> None:
    await chat.say("sy mau daftar haji", parse=REGISTER)
    for answer in (dob, "iya", "belum", "tidak pernah", "sudah", name):
        await chat.say(answer)


async def test_registered_and_new_nik_get_the_same_answer(db, engine, store) -> None:  # noqa: F811
    a, b = Chat(db, engine, store, user="p1"), Chat(db, engine, store, user="p2")
    await to_nik_step(a)
    await to_nik_step(b)
    on_list, new = await a.say(ON_LIST), await b.say(NEW)
    assert on_list == new and "sudah tercatat" not in on_list and "mencocokkan NIK" in on_list


async def finish(chat: Chat) -> str:
    await chat.say("tidak")  # no document pre-check
    await chat.say("1")  # first slot
    return await chat.say("ya")


async def test_staff_see_the_flag_the_applicant_does_not(db, engine, store) -> None:  # noqa: F811
    a, b = Chat(db, engine, store, user="p1"), Chat(db, engine, store, user="p2")
    await to_nik_step(a)
    await a.say(ON_LIST)
    await to_nik_step(b)
    await b.say(NEW)
    done = [await finish(a), await finish(b)]
    assert "REG-2026-00001" in done[0] and "REG-2026-00002" in done[1]
    assert "terdaftar" not in done[0]
    async with db.session() as s:
        cases = {c.ticket: c for c in (await s.execute(select(Case))).scalars()}
    assert cases["REG-2026-00001"].answers.get("nik_sudah_terdaftar") is True
    assert "nik_sudah_terdaftar" not in cases["REG-2026-00002"].answers


async def test_nik_corrected_to_a_new_one_drops_the_flag(db, engine, store) -> None:  # noqa: F811
    chat = Chat(db, engine, store, user="p3")
    await to_nik_step(chat)
    await chat.say(ON_LIST)
    out = await chat.say("NIK saya salah")
    assert "NIK" in out
    await chat.say(NEW)
    await finish(chat)
    async with db.session() as s:
        case = (await s.execute(select(Case))).scalar_one()
    assert case.answers["nik"] == NEW and "nik_sudah_terdaftar" not in case.answers


async def test_the_verified_pilgrim_herself_is_told(db, engine, store) -> None:  # noqa: F811
    siti = Chat(db, engine, store, user="siti")
    out = await siti.say("cek porsi 0312345678 lahir 3 Mei 1960", parse={"intent": {"name": "check_porsi",
                                                                                 "confidence": 0.95}})
    assert "SITI A***" in out
    await to_nik_step(siti, "Siti Aminah Rahman", "3 Mei 1960")
    out = await siti.say(ON_LIST)
    assert "sudah tercatat dalam daftar tunggu" in out


async def test_someone_verified_as_another_pilgrim_is_not_told(db, engine, store) -> None:  # noqa: F811
    ahmad = Chat(db, engine, store, user="ahmad")
    assert "AHMAD F***" in await ahmad.say("cek porsi 0312345679 lahir 1 Januari 1955",
                                          parse={"intent": {"name": "check_porsi", "confidence": 0.95}})
    await to_nik_step(ahmad)
    out: Any = await ahmad.say(ON_LIST)  # Siti's NIK
    assert "sudah tercatat" not in out and "mencocokkan NIK" in out
