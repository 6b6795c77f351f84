"""Top-level messages read with the real built-in NLU: off-topic questions stay off-topic, several questions in
one message are each answered, and "no 2 dan 3" refers to the bot's last numbered list (issue 12, items 8-9)."""
from __future__ import annotations

from pathlib import Path

import pytest

from dialogues.questions import numbered_references
from nlu.builtin import BuiltinNLU
from nlu.settings import NluSettings
from tests.dialogues.conftest import ROOT, Chat, transcript

COST = "Setoran awal: Rp25.000.000"
OFFICE = "Alamat: Jl. Contoh 1"
SCHEDULE = "Pelunasan Bipih dibuka"
OUT = "di luar layanan kami"
MENU = "Silakan pilih layanan"


@pytest.fixture(scope="module")
def nlu(nlu_cache_dir: Path) -> BuiltinNLU:
    return BuiltinNLU.load(ROOT / "nlu" / "data", nlu_cache_dir, NluSettings())


async def ask(chat: Chat, nlu: BuiltinNLU, text: str) -> str:
    return await chat.say(text, parse=nlu.parse_sync(text))


@pytest.mark.parametrize("text", [
    "harga cabe naik trs, gmn nih",
    "cuaca bsk hujan ga min",
    "pasang alarm jam 4 ya",
    "semen padang menang ga tadi malam",
    "harga bawang di pasa ateh brp kini",
    "hp ambo rusak, dima servis nan murah",
])
async def test_everyday_topics_get_out_of_scope_answer_with_menu(chat: Chat, nlu: BuiltinNLU, text: str) -> None:
    out = await ask(chat, nlu, text)
    assert OUT in out and MENU in out, transcript(chat)
    assert COST not in out and "nomor tiket" not in out.lower()


async def test_umrah_ticket_is_not_a_case_ticket(chat: Chat, nlu: BuiltinNLU) -> None:
    out = await ask(chat, nlu, "pesan tiket umroh")
    assert "bukan pemesanan atau paket umrah" in out and MENU in out, transcript(chat)
    assert (await chat.conversation()).state.get("flow") is None


async def test_other_government_service_names_the_other_office(chat: Chat, nlu: BuiltinNLU) -> None:
    out = await ask(chat, nlu, "kk baru ambo baa caro mauruihnyo di capil pak")
    assert "Disdukcapil" in out and MENU in out, transcript(chat)


async def test_hajj_cost_question_is_still_answered(chat: Chat, nlu: BuiltinNLU) -> None:
    out = await ask(chat, nlu, "brp biaya haji skrg pak")
    assert COST in out and OUT not in out, transcript(chat)


async def test_off_topic_inside_a_flow_gets_no_hajj_answer(chat: Chat, nlu: BuiltinNLU) -> None:
    await ask(chat, nlu, "mau cek porsi")
    out = await ask(chat, nlu, "harga cabe naik trs, gmn nih")
    assert COST not in out, transcript(chat)


async def test_three_questions_in_one_message_are_answered_in_order(chat: Chat, nlu: BuiltinNLU) -> None:
    replies = await chat.send("brp biaya haji skrg? trs kapan jadwal pelunasan? kantor dmn?",
                              parse=nlu.parse_sync("brp biaya haji skrg? trs kapan jadwal pelunasan? kantor dmn?"))
    texts = [r.text for r in replies]
    assert texts[0].startswith("1. brp biaya haji skrg") and COST in texts[0], transcript(chat)
    assert texts[1].startswith("2. kapan jadwal pelunasan") and SCHEDULE in texts[1]
    assert texts[2].startswith("3. kantor dmn") and OFFICE in texts[2]


async def test_two_questions_with_the_same_answer_are_answered_once(chat: Chat, nlu: BuiltinNLU) -> None:
    out = await ask(chat, nlu, "brp biaya haji skrg? trs kantor dmn? jam brp buka?")
    assert out.count(OFFICE) == 1 and out.count(COST) == 1, transcript(chat)


async def test_faq_questions_together(chat: Chat, nlu: BuiltinNLU) -> None:
    out = await ask(chat, nlu, "vaksin meningitis wajib ga? trs kbihu wajib ikut ga pak?")
    assert "1. vaksin meningitis wajib ga" in out and "2. " in out and "KBIHU" in out, transcript(chat)


async def test_questions_and_a_service_request(chat: Chat, nlu: BuiltinNLU) -> None:
    out = await ask(chat, nlu, "brp biaya haji? kantornya dmn? sy mau daftar haji")
    assert COST in out and OFFICE in out and "pendaftaran haji" in out.lower(), transcript(chat)
    out = await ask(chat, nlu, "iyo")
    assert (await chat.conversation()).state.get("flow") == "pendaftaran", transcript(chat)


async def test_single_question_is_unchanged(chat: Chat, nlu: BuiltinNLU) -> None:
    out = await ask(chat, nlu, "Assalamualaikum pak. kantor kemenag dmn ya?")
    assert OFFICE in out and "1. " not in out, transcript(chat)


async def test_numbers_refer_to_the_last_info_menu(chat: Chat, nlu: BuiltinNLU) -> None:
    await ask(chat, nlu, "info")
    out = await ask(chat, nlu, "no 1 dan 3 gmn?")
    assert COST in out and OFFICE in out and SCHEDULE not in out, transcript(chat)


async def test_numbers_refer_to_the_last_menu(chat: Chat, nlu: BuiltinNLU) -> None:
    await ask(chat, nlu, "menu")
    out = await ask(chat, nlu, "no 2 dan 3 gmn?")
    assert "Pembatalan" in out and "Pelimpahan" in out and "Ketik angkanya" in out, transcript(chat)
    assert (await chat.conversation()).state.get("flow") is None
    await ask(chat, nlu, "3")
    assert (await chat.conversation()).state.get("flow") == "pelimpahan", transcript(chat)


async def test_one_number_starts_that_item(chat: Chat, nlu: BuiltinNLU) -> None:
    await ask(chat, nlu, "menu")
    await ask(chat, nlu, "yg no 2 gmn")
    assert (await chat.conversation()).state.get("flow") == "pembatalan", transcript(chat)


async def test_number_outside_the_list(chat: Chat, nlu: BuiltinNLU) -> None:
    await ask(chat, nlu, "info")
    out = await ask(chat, nlu, "no 5 dan 6 gmn")
    assert "nomor 5 tidak ada" in out and MENU in out, transcript(chat)


@pytest.mark.parametrize("text, refs", [
    ("no 2 dan 3 gmn?", [2, 3]), ("yg no 3 gmn", [3]), ("nomor 1 sama 3 pak", [1, 3]), ("2 & 4?", [2, 4]),
    ("3", None), ("porsi 0312345678", None), ("lahir 5 juni 1960", None), ("umur 85 boleh?", None),
])
def test_numbered_references(text: str, refs: list[int] | None) -> None:
    assert numbered_references(text) == refs


async def test_several_questions_inside_a_flow_then_the_flow_resumes(chat: Chat, nlu: BuiltinNLU) -> None:
    await ask(chat, nlu, "mau cek porsi")
    out = await ask(chat, nlu, "eh bntr, brp biaya haji skrg? trs kantor dmn?")
    assert COST in out and OFFICE in out and "nomor porsi" in out.lower(), transcript(chat)
    assert (await chat.conversation()).state.get("flow") == "cek_porsi"


async def test_menu_number_with_a_dot_is_a_pick_not_off_topic(chat: Chat, nlu: BuiltinNLU) -> None:
    await ask(chat, nlu, "menu")
    out = await ask(chat, nlu, "3.")
    assert OUT not in out and (await chat.conversation()).state.get("flow") == "pelimpahan", transcript(chat)
