"""Answers read in context (issue 12): negations, ask-back, choices, corrections with a value, stale buttons,
details given up front, rules checked at answer time. Conversations as pilgrims in Bukittinggi write them."""
from __future__ import annotations

from sqlalchemy import select

from storage.models import Case
from tests.dialogues.conftest import Chat, make_photo, transcript

REGISTER = {"intent": {"name": "register_hajj", "confidence": 0.95}}
TRANSFER = {"intent": {"name": "transfer_porsi", "confidence": 0.95}}
CANCEL = {"intent": {"name": "cancel_registration", "confidence": 0.95}}


async def register_until(chat: Chat, step: str) -> str:
    """Walk the registration flow up to the question `step` (domicile, waiting, hajj_before, setoran, name)."""
    out = await chat.say("assalamualaikum pak, ambo nak daftar haji", parse=REGISTER)
    assert "tanggal lahir" in out
    out = await chat.say("12/03/1985")
    if step == "domicile":
        return out
    out = await chat.say("iyo pak")
    if step == "waiting":
        return out
    out = await chat.say("blm pernah")
    assert "pernah berhaji" in out, transcript(chat)  # "blm pernah" to "sudah pernah terdaftar?" is NO
    if step == "hajj_before":
        return out
    out = await chat.say("blm pernah haji sama sekali min")
    assert "Alhamdulillah" in out and "belum dapat mendaftar" not in out, transcript(chat)
    if step == "setoran":
        return out
    out = await chat.say("alah, nomor validasi alah ado")
    assert "nama lengkap" in out, transcript(chat)
    return out


# ---------------------------------------------------------------- negation scope (yes/no)

async def test_blm_pernah_haji_is_no(chat: Chat) -> None:
    await register_until(chat, "setoran")
    state = (await chat.conversation()).state
    assert state["slots"]["hajj_before"] is False and state["slots"]["already_waiting"] is False


async def test_blm_ada_baru_mau_ke_bank_is_not_paid(chat: Chat) -> None:
    await register_until(chat, "setoran")
    out = await chat.say("blm ada, baru mau ke bank")
    assert "setoran awal di bank BPS-Bipih terlebih dahulu" in out, transcript(chat)
    assert "nama lengkap" not in out


async def test_alun_pernah_is_no_and_alah_pernah_is_yes(chat: Chat, engine, db, store) -> None:
    await register_until(chat, "hajj_before")
    out = await chat.say("alun pernah pak")
    assert "Alhamdulillah" in out
    other = Chat(db, engine, store, user="u2")
    await register_until(other, "hajj_before")
    out = await other.say("alah pernah, tahun 2015")
    assert "belum dapat mendaftar" in out


async def test_hedged_answer_is_asked_back(chat: Chat) -> None:
    await register_until(chat, "hajj_before")
    out = await chat.say("kayaknya blm pernah deh")
    assert "Maksudnya" in out and "belum pernah berhaji" in out and "Alhamdulillah" not in out
    out = await chat.say("iyo")
    assert "Alhamdulillah" in out, transcript(chat)
    assert (await chat.conversation()).state["slots"]["hajj_before"] is False


async def test_ask_back_rejected_gives_the_other_meaning(chat: Chat) -> None:
    await register_until(chat, "hajj_before")
    out = await chat.say("mungkin pernah")
    assert "Maksudnya" in out and "pernah berhaji" in out
    out = await chat.say("bukan")
    assert "Alhamdulillah" in out, transcript(chat)


async def test_nlu_deny_is_used_when_no_word_decides(chat: Chat) -> None:
    await register_until(chat, "hajj_before")
    out = await chat.say("sama sekali blom", parse={"intent": {"name": "deny", "confidence": 0.93}})
    assert "Alhamdulillah" in out


async def test_unsure_nlu_is_asked_back(chat: Chat) -> None:
    await register_until(chat, "hajj_before")
    out = await chat.say("hmm insyaallah", parse={"intent": {"name": "affirm", "confidence": 0.6}})
    assert "Maksudnya" in out and "belum dapat mendaftar" not in out


# ---------------------------------------------------------------- choices

async def test_ordinal_choice(chat: Chat) -> None:
    await chat.say("mau batalkan porsi", parse=CANCEL)
    out = await chat.say("yang kedua")
    assert "pelimpahan" in out.lower()  # the deceased variant offers pelimpahan
    assert (await chat.conversation()).state["slots"]["variant"] == "meninggal"


async def slots_question(chat: Chat) -> str:
    await register_until(chat, "name")
    await chat.say("Dewi Sartika")
    await chat.say("1375014303850001")
    out = await chat.say("indak usah")
    assert "Pilih jadwal" in out, transcript(chat)
    return out


async def test_slot_by_day_part(chat: Chat) -> None:
    await slots_question(chat)
    out = await chat.say("rabu siang se lah pak")
    assert "Rabu, 25 November 2026 pukul 13.30" in out and "Ringkasan" in out, transcript(chat)


async def test_slot_by_exclusion_asks_when_several_remain(chat: Chat) -> None:
    out = await slots_question(chat)
    assert "Kamis" in out
    out = await chat.say("jangan rabu pak")
    assert "Maksudnya" in out and "Kamis, 26 November 2026 pukul 08.30" in out and "Rabu" not in out
    out = await chat.say("no 2")
    assert "Ringkasan" in out and "Kamis, 26 November 2026 pukul 10.00" in out, transcript(chat)


async def test_slot_several_fit_equally_asks_back(chat: Chat) -> None:
    await slots_question(chat)
    out = await chat.say("kamis aja deh, jumat sy ada acara")
    assert "Maksudnya" in out and "Ringkasan" not in out
    out = await chat.say("yg pertama")
    assert "Ringkasan" in out and "Kamis, 26 November 2026 pukul 08.30" in out, transcript(chat)


# ---------------------------------------------------------------- corrections with the new value

async def test_correct_birth_date_mid_flow(chat: Chat) -> None:
    await register_until(chat, "hajj_before")
    out = await chat.say("eh salah, lahirnya 5 juni 1960")
    assert "tanggal lahir diubah menjadi 5 Juni 1960" in out, transcript(chat)
    assert "pernah berhaji" in out and "Kota Bukittinggi?" not in out  # continues where it was
    assert (await chat.conversation()).state["slots"]["dob"] == "1960-06-05"


async def test_correct_recipient_name(chat: Chat) -> None:
    await chat.say("mau limpahkan porsi ibu saya", parse=TRANSFER)
    await chat.say("ibu saya sudah meninggal")
    await chat.say("0312345678")
    await chat.say("3 Mei 1960")
    await chat.say("14-8-2025")
    out = await chat.say("Rahmad")
    assert "NIK" in out
    out = await chat.say("bukan, nama penerimanya Rahmat")
    assert "nama penerima diubah menjadi Rahmat" in out and "NIK" in out, transcript(chat)
    assert (await chat.conversation()).state["slots"]["recipient_name"] == "Rahmat"


async def test_correct_porsi_number(chat: Chat) -> None:
    out = await chat.say("cek porsi 0312345678", parse={"intent": {"name": "check_porsi", "confidence": 0.9}})
    assert "tanggal lahir" in out
    out = await chat.say("nomor porsinya salah, 0312345679")
    assert "nomor porsi diubah menjadi 0312345679" in out.lower(), transcript(chat)
    out = await chat.say("1 januari 1955")
    assert "AHMAD F***" in out, transcript(chat)


# ---------------------------------------------------------------- stale buttons

async def test_old_ya_button_is_not_a_name(chat: Chat, db) -> None:
    await chat.say("mau limpahkan porsi ibu saya", parse=TRANSFER)
    await chat.say("ibu saya sudah meninggal")
    await chat.say("0312345678")
    await chat.say("3 Mei 1960")
    out = await chat.say("14-8-2025")
    assert "nama lengkap penerima" in out
    out = await chat.say("Ya")
    assert "nama lengkap penerima" in out and "NIK" not in out, transcript(chat)
    state = (await chat.conversation()).state
    assert "recipient_name" not in state["slots"] and state["question"]["step"] == "recipient_name"
    out = await chat.say("Lanjutkan")
    assert "nama lengkap penerima" in out and "NIK" not in out


# ---------------------------------------------------------------- details given up front

async def test_opening_message_fills_slots_and_says_so(chat: Chat) -> None:
    out = await chat.say("assalamualaikum pak, amak ambo alah wafat, nomor porsi nyo 0312345678, ambo nak "
                         "melimpahkan porsi ka ambo", parse=TRANSFER)
    assert "Nomor porsi 0312345678 sudah kami catat" in out, transcript(chat)
    assert "tanggal lahir" in out and "Apa alasan" not in out
    slots = (await chat.conversation()).state["slots"]
    assert slots["reason"] == "meninggal" and slots["porsi"] == "0312345678"


async def test_later_message_fills_other_slots(chat: Chat) -> None:
    await chat.say("mau limpahkan porsi", parse=TRANSFER)
    out = await chat.say("bapak sudah meninggal 14 agustus 2025, porsinya 0312345679")
    assert "Nomor porsi 0312345679" in out and "14 Agustus 2025 sudah kami catat" in out, transcript(chat)
    out = await chat.say("1 januari 1955")
    assert "nama lengkap penerima" in out and "wafat?" not in out, transcript(chat)


# ---------------------------------------------------------------- rules at answer time

async def cancel_own_until_bank(chat: Chat, porsi: str) -> str:
    await chat.say("mau batalkan porsi sendiri", parse=CANCEL)
    out = await chat.say("ekonomi")
    out = await chat.say(f"porsi {porsi} lahir 1 januari 1955")
    assert "nama bank" in out.lower() or "nama banknya" in out.lower(), transcript(chat)
    return out


async def test_bank_must_be_the_pilgrims_bank(chat: Chat, db) -> None:
    out = await cancel_own_until_bank(chat, "0312345679")
    assert "Bank Muamalat" in out
    out = await chat.say("BSI")
    assert "Bank Muamalat" in out and "Bank Syariah Indonesia" in out and "atas nama" not in out.lower(), transcript(chat)
    assert "bank_name" not in (await chat.conversation()).state["slots"]
    out = await chat.say("rekening muamalat ambo alah dibukak pak")
    assert "atas nama" in out.lower() or "pemilik" in out.lower(), transcript(chat)
    assert (await chat.conversation()).state["slots"]["bank_name"] == "Bank Muamalat Indonesia"


async def test_conventional_bank_is_refused_with_reason(chat: Chat) -> None:
    await cancel_own_until_bank(chat, "0312345679")
    out = await chat.say("bank BRI pak")
    assert "BPS-Bipih" in out and "BRI" in out, transcript(chat)
    assert "bank_name" not in (await chat.conversation()).state["slots"]


async def test_relationship_not_allowed_is_not_stored(chat: Chat) -> None:
    await chat.say("mau limpahkan porsi ibu saya", parse=TRANSFER)
    await chat.say("ibu saya sudah meninggal")
    await chat.say("0312345678")
    await chat.say("3 Mei 1960")
    await chat.say("14-8-2025")
    await chat.say("Rina Marlina")
    await chat.say("1375014508900001")
    await chat.say("5 Agustus 1990")
    out = await chat.say("ambo cucunyo pak")
    assert "hanya dapat dilimpahkan kepada" in out, transcript(chat)
    assert "recipient_relationship" not in (await chat.conversation()).state["slots"]


async def test_negated_reason_word_is_not_the_reason(chat: Chat) -> None:
    await chat.say("mau limpahkan porsi", parse=TRANSFER)
    out = await chat.say("ibu sy belum meninggal pak, tapi sudah stroke 3 tahun, porsinya 0312345678")
    slots = (await chat.conversation()).state["slots"]
    assert slots["reason"] == "sakit_permanen" and slots["porsi"] == "0312345678", transcript(chat)
    assert "wafat" not in out


async def test_words_before_a_keyword_are_not_a_name(chat: Chat) -> None:
    await register_until(chat, "name")
    out = await chat.say("saya lahir thn 1985")
    assert "applicant_name" not in (await chat.conversation()).state["slots"], transcript(chat)
    assert "nama lengkap" in out
    out = await chat.say("Dewi Sartika nik 1375014303850001")
    slots = (await chat.conversation()).state["slots"]
    assert slots["applicant_name"] == "Dewi Sartika" and slots["nik"] == "1375014303850001", transcript(chat)
