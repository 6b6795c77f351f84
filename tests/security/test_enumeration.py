"""Porsi enumeration, as an attacker would try it: does any answer tell a registered number from a made-up
one before the requester proved who they are? And the pilgrim, who must still get through."""
from __future__ import annotations

import statistics
import time
from typing import Any

from tests.conftest import WebChat
from tests.dialogues.conftest import Chat, db, engine, store  # noqa: F401 - fixtures

CHECK = {"intent": {"name": "check_porsi", "confidence": 0.95}}
CANCEL = {"intent": {"name": "cancel_registration", "confidence": 0.95}}
KNOWN, UNKNOWN = "0312345678", "0399999999"


def same(a: str, b: str, known: str = KNOWN, unknown: str = UNKNOWN) -> bool:
    return a.replace(known, "N") == b.replace(unknown, "N")


async def test_known_and_unknown_porsi_get_identical_answers(db, engine, store) -> None:  # noqa: F811
    known, unknown = Chat(db, engine, store, user="a1"), Chat(db, engine, store, user="a2")
    first = [await known.say(f"cek porsi {KNOWN}", parse=CHECK), await unknown.say(f"cek porsi {UNKNOWN}", parse=CHECK)]
    assert "tanggal lahir" in first[0] and same(*first)
    wrong = [await known.say("1 Januari 1970"), await unknown.say("1 Januari 1970")]
    assert "data tidak cocok" in wrong[0] and same(*wrong)
    nik = [await known.say("9999"), await unknown.say("9999")]  # wrong last NIK digits
    assert same(*nik)
    third = [await known.say("2 Januari 1970"), await unknown.say("2 Januari 1970")]
    assert "petugas" in third[0] and same(*third)


async def test_pembatalan_does_not_tell_numbers_apart_either(db, engine, store) -> None:  # noqa: F811
    outs = []
    for user, porsi in (("b1", KNOWN), ("b2", UNKNOWN)):
        chat = Chat(db, engine, store, user=user)
        await chat.say("mau batal haji", parse=CANCEL)
        await chat.say("saya sendiri")
        await chat.say("ekonomi")
        outs.append([await chat.say(porsi), await chat.say("1 Januari 1970")])
    assert "tanggal lahir" in outs[0][0] and same(outs[0][0], outs[1][0])
    assert "data tidak cocok" in outs[0][1] and same(outs[0][1], outs[1][1])


async def test_twelve_numbers_from_twelve_web_chats(client: Any) -> None:
    """The measured leak: 12 numbers from 12 invented user_ids. Every one now gets the same question,
    including the real one (demo pilgrim SITI AMINAH, 0312345678)."""
    numbers = [f"03999990{i:02d}" for i in range(11)] + [KNOWN]
    replies = []
    for i, number in enumerate(numbers):
        replies.append((number, await WebChat(client, f"probe-{i}").say_text(f"cek porsi {number}")))
    texts = {text.replace(number, "N") for number, text in replies}
    assert len(texts) == 1 and "tanggal lahir" in texts.pop()
    wrong = {(await WebChat(client, f"probe-{i}").say_text("1/1/1970")).replace(number, "N")
             for i, (number, _) in enumerate(replies)}
    assert len(wrong) == 1 and "data tidak cocok" in wrong.pop()
    # the pilgrim, on her own phone, after all this
    out = await WebChat(client, "siti-hp").say_text("assalamualaikum, cek porsi 0312345678 lahir 5 Juni 1960")
    assert "SITI A***" in out


async def test_same_order_of_magnitude_of_time(db, engine, store) -> None:  # noqa: F811
    """A wrong birth date costs the same work for a registered and an unregistered number."""
    times: dict[str, list[float]] = {KNOWN: [], UNKNOWN: []}
    for i in range(12):
        for porsi in (KNOWN, UNKNOWN):
            chat = Chat(db, engine, store, user=f"t{porsi}{i}")
            await chat.say(f"cek porsi {porsi}", parse=CHECK)
            started = time.perf_counter()
            out = await chat.say("1 Januari 1970")
            times[porsi].append(time.perf_counter() - started)
            assert "data tidak cocok" in out
    known, unknown = statistics.median(times[KNOWN]), statistics.median(times[UNKNOWN])
    assert max(known, unknown) / min(known, unknown) < 5, (known, unknown)  # same order of magnitude


async def test_pilgrim_with_a_typo_in_her_number_can_fix_it(db, engine, store) -> None:  # noqa: F811
    chat = Chat(db, engine, store, user="siti")
    out = await chat.say("ambo nak cek porsi 0312345687", parse=CHECK)
    assert "tanggal lahir" in out
    out = await chat.say("3 mei 1960")
    assert "data tidak cocok" in out and "ubah nomor porsi" in out
    out = await chat.say("ubah nomor porsi")
    assert "10 angka" in out
    out = await chat.say("0312345678")
    assert "tanggal lahir" in out  # the birth date is asked again for the new number
    out = await chat.say("3 mei 1960")
    assert "SITI A***" in out
