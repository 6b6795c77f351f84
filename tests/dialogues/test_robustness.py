"""Random pilgrims: long random sequences of plausible inputs never crash the engine or corrupt state."""
import copy
import random
from typing import Any

import pytest

from dialogues.turn import Turn
from storage.models import Conversation
from tests.dialogues.conftest import Chat, make_pdf, make_photo

INPUTS = [
    "menu", "1", "2", "3", "4", "5", "6", "7", "9", "ya", "tidak", "iyo", "indak", "stop", "ga jadi", "lanjut",
    "mulai dari awal", "selesai", "lewati", "ganti", "0312345678", "0312345679", "0399999999", "3 Mei 1960",
    "1 Januari 1955", "14/08/2025", "tgl 14 agst 25", "1/1/2018", "1375014508900001", "0002", "Budi Santoso",
    "anak kandung", "cucu", "BSI", "7123456789", "berapa biaya haji?", "syarat pelimpahan apa saja?",
    "NIK saya salah", "ubah tanggal", "ganti foto KTP", "petugas", "langganan", "PBT-2026-00001", "", "???",
    "saya mau batal haji ibu saya sudah meninggal", "mau daftar haji", "cek porsi", "pelimpahan", "status",
    "assalamualaikum", "terima kasih", "kamis jam 10",
]
INTENTS = ["greet", "menu", "check_porsi", "cancel_registration", "transfer_porsi", "register_hajj",
           "check_case_status", "ask_cost", "faq", "affirm", "deny", "stop", "nlu_fallback", "thanks"]


async def test_random_conversations_do_not_crash(db, engine, store) -> None:
    rng = random.Random(20261124)
    photo, blurry, pdf = make_photo(), make_photo(sharp=False), make_pdf(2)
    for user in range(6):
        chat = Chat(db, engine, store, user=f"r{user}")
        for _ in range(120):
            roll = rng.random()
            files = []
            if roll < 0.15:
                files = [rng.choice([photo, photo, blurry, pdf, b"junk"])]
            text = "" if files and rng.random() < 0.7 else rng.choice(INPUTS)
            parse = {}
            if rng.random() < 0.5:
                parse = {"intent": {"name": rng.choice(INTENTS), "confidence": rng.choice([0.3, 0.6, 0.9])},
                         "entities": []}
            replies = await chat.send(text, files=files, parse=parse)
            conv = await chat.conversation()
            if conv.mode != "bot":  # staff took over: give the conversation back, as staff would
                async with db.session() as s, s.begin():
                    live = await s.get(type(conv), conv.id)
                    live.mode = "bot"
                continue
            assert replies, (text, conv.state)
            assert all(r.text.strip() for r in replies)
            assert "{" not in "".join(r.text for r in replies), replies


async def test_a_failed_step_leaves_the_conversation_state_untouched(db, engine, store, monkeypatch) -> None:
    state = {"flow": "cek_porsi", "slots": {"porsi": "0312345678", "seen": [1, {"a": "b"}]}, "pilgrim": {"id": 1}}
    before = copy.deepcopy(state)
    conversation = Conversation(channel="web", channel_user_id="fails", state=state, mode="bot")

    async def change_everything_then_fail(ctx: Any) -> None:
        ctx.state["slots"]["porsi"] = "0399999999"
        ctx.state["slots"]["seen"][1]["a"] = "changed"
        ctx.state["slots"]["seen"].append(2)
        ctx.state["pilgrim"].clear()
        ctx.state["flow"] = None
        raise RuntimeError("the step failed")

    monkeypatch.setattr(engine, "_dispatch", change_everything_then_fail)
    async with db.session() as s:
        with pytest.raises(RuntimeError):
            await engine.step(s, store, Turn(conversation=conversation, channel="web", text="halo", parse={}))
    assert conversation.state is state and state == before
