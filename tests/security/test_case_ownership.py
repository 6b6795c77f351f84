"""Case status by ticket, as a stranger would probe it: tickets are sequential (PBT-2026-00001, ...), so the
answer to someone else's ticket must be the same as to a ticket that does not exist, until verified."""
from __future__ import annotations

from typing import Any

from tests.dialogues.conftest import Chat, db, engine, store  # noqa: F401 - fixtures
from tests.dialogues.test_general import submit_case

STATUS = {"intent": {"name": "check_case_status", "confidence": 0.95}}
REAL, MADE_UP = "PBT-2026-00001", "PBT-2026-00002"


def same(a: str, b: str) -> bool:
    return a.replace(REAL, "T") == b.replace(MADE_UP, "T")


async def owner_case(db: Any, engine: Any, store: Any) -> Chat:  # noqa: F811
    """The heir of the (deceased) pilgrim 0312345678 submits a pembatalan through the real flow."""
    heir = Chat(db, engine, store, user="heir")
    await submit_case(heir)
    return heir


async def test_stranger_gets_the_same_answer_as_for_a_made_up_ticket(db, engine, store) -> None:  # noqa: F811
    await owner_case(db, engine, store)
    a, b = Chat(db, engine, store, user="s1"), Chat(db, engine, store, user="s2")
    first = [await a.say(f"status {REAL}", parse=STATUS), await b.say(f"status {MADE_UP}", parse=STATUS)]
    assert same(*first) and "tanggal lahir" in first[0]
    for leak in ("Pembatalan", "Status:", "kurang", "waris", "kematian"):
        assert leak not in first[0]
    wrong = [await a.say("1 Januari 1970"), await b.say("1 Januari 1970")]
    assert same(*wrong) and "data tidak cocok" in wrong[0] and "Pembatalan" not in wrong[0]


async def test_owner_sees_it_without_a_question(db, engine, store) -> None:  # noqa: F811
    heir = await owner_case(db, engine, store)
    out = await heir.say(f"status {REAL}", parse=STATUS)
    assert f"Tiket {REAL}" in out and "Pembatalan" in out
    out = await heir.say("status pengajuan saya", parse=STATUS)
    assert REAL in out


async def test_family_member_on_another_phone_after_verification(db, engine, store) -> None:  # noqa: F811
    await owner_case(db, engine, store)
    other = Chat(db, engine, store, user="anak")
    out = await other.say(f"gmn status tiket {REAL}", parse=STATUS)
    assert "tanggal lahir" in out
    out = await other.say("3 mei 1960")  # the pilgrim's birth date
    assert f"Tiket {REAL}" in out and "Pembatalan" in out
    # nothing is remembered: the next look needs the check again
    out = await other.say(f"status {REAL}", parse=STATUS)
    assert "tanggal lahir" in out


async def test_verified_chat_of_the_same_pilgrim_sees_her_cases(db, engine, store) -> None:  # noqa: F811
    await owner_case(db, engine, store)
    siti = Chat(db, engine, store, user="siti-hp")
    out = await siti.say("status pengajuan", parse=STATUS)
    assert REAL not in out
    out = await siti.say("ga jadi")
    await siti.say("ya")
    assert "SITI A***" in await siti.say("cek porsi 0312345678 lahir 3 Mei 1960",
                                         parse={"intent": {"name": "check_porsi", "confidence": 0.95}})
    out = await siti.say("status pengajuan", parse=STATUS)
    assert REAL in out


async def test_ticket_probing_runs_into_the_budget(db, engine, store) -> None:  # noqa: F811
    await owner_case(db, engine, store)
    prober = Chat(db, engine, store, user="prober")
    for n in range(1, 6):
        out = await prober.say(f"status PBT-2026-{n:05d} lahir 1 Januari 1970", parse=STATUS)
        if "dibantu petugas" in out:
            await prober.say("tidak")
    assert "coba lagi dalam 5 menit" in out
    out = await prober.say(f"status {REAL} lahir 3 Mei 1960", parse=STATUS)
    assert "coba lagi dalam" in out and "Pembatalan" not in out
