"""The answer interpreter on its own: verbatim answers from issue 12 and how pilgrims in Bukittinggi write."""
from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from dialogues.answers import interpret, read_choice, read_yes_no, resolve_yes_no_askback
from dialogues.config import load_bundle
from dialogues.validators import Choice, ValidationContext

ROOT = Path(__file__).resolve().parents[2] / "dialogues"
RULES = load_bundle(ROOT / "flows", ROOT / "responses", ROOT / "rules").rules
LEX = RULES.language
TODAY = date(2026, 11, 24)
BANKS = tuple((b.name, tuple(b.words)) for b in RULES.banks.entries) if RULES.banks else ()
SLOTS = [Choice("2026-11-25T01:30", "Rabu, 25 November 2026 pukul 08.30", ("rabu",)),
         Choice("2026-11-25T06:30", "Rabu, 25 November 2026 pukul 13.30", ("rabu",)),
         Choice("2026-11-26T01:30", "Kamis, 26 November 2026 pukul 08.30", ("kamis",)),
         Choice("2026-11-26T06:30", "Kamis, 26 November 2026 pukul 13.30", ("kamis",)),
         Choice("2026-11-27T01:30", "Jumat, 27 November 2026 pukul 08.30", ("jumat",))]


@pytest.mark.parametrize("text,expected", [
    ("blm pernah haji sama sekali min", False), ("blm pernah", False), ("blm ada, baru mau ke bank", False),
    ("alun pernah", False), ("alah pernah", True), ("indak ado", False), ("tdk pernah terdaftar pak", False),
    ("ga pernah, ini yg pertama", False), ("sudah pak, nomor validasi ada", True), ("iyo alah", True),
    ("belum pak, baru nabung", False), ("nggak punya porsi", False), ("udah lunas kok", True),
    ("ndak ado do", False), ("iya, belum pernah", False), ("yaa", True), ("ya", True), ("tidak", False), ("2", False), ("1", True),
])
def test_negation_scope(text: str, expected: bool) -> None:
    reading = read_yes_no([text], LEX)
    assert reading.answered and reading.value is expected, reading


@pytest.mark.parametrize("text,guess", [
    ("kayaknya blm pernah deh", False), ("mungkin pernah", True), ("iya pernah, eh blm pernah", True),
    ("pernah tapi blm pernah", True),
])
def test_unsure_answers_are_asked_back(text: str, guess: bool) -> None:
    reading = read_yes_no([text], LEX)
    assert not reading.sure and reading.value is guess and reading.candidates == (guess,)


def test_nlu_reading_and_confidence() -> None:
    assert read_yes_no(["sama sekali"], LEX, "deny", 0.93).answered
    unsure = read_yes_no(["insyaallah"], LEX, "affirm", 0.6)
    assert unsure.value is True and not unsure.sure
    assert read_yes_no(["hmm"], LEX, "affirm", 0.3).value is None
    # a statement beats a confident NLU that reads it the other way
    assert read_yes_no(["blm pernah"], LEX, "affirm", 0.95).value is False


def test_ask_back_answers() -> None:
    assert resolve_yes_no_askback(["iyo"], LEX, guess=False).value is False
    assert resolve_yes_no_askback(["bukan"], LEX, guess=False).value is True
    assert resolve_yes_no_askback(["blm pernah sama sekali"], LEX, guess=True).value is False
    assert resolve_yes_no_askback(["hmm"], LEX, guess=True).value is None


@pytest.mark.parametrize("text,expected", [
    ("yang kedua", SLOTS[1].value), ("no 2", SLOTS[1].value), ("yg ke 3", SLOTS[2].value),
    ("kamis siang", SLOTS[3].value), ("rabu pagi aja", SLOTS[0].value), ("yang terakhir", SLOTS[4].value),
    ("bukan kamis pagi, kamis siang", SLOTS[3].value), ("4", SLOTS[3].value),
])
def test_choices(text: str, expected: str) -> None:
    reading = read_choice([text], SLOTS, LEX)
    assert reading.answered and reading.value == expected, reading


def test_excluded_option() -> None:
    two = [SLOTS[3], SLOTS[4]]
    reading = read_choice(["jangan jumat"], two, LEX)
    assert reading.answered and reading.value == SLOTS[3].value  # the only other option
    several = read_choice(["jangan jumat pak"], SLOTS, LEX)
    assert not several.sure and SLOTS[4].value not in several.candidates and len(several.candidates) == 4


def test_several_fit_equally() -> None:
    reading = read_choice(["kamis aja deh"], SLOTS, LEX)
    assert not reading.sure and set(reading.candidates) == {SLOTS[2].value, SLOTS[3].value}


@pytest.mark.parametrize("kind,text", [
    ("name", "Ya"), ("name", "Tidak"), ("name", "Lanjutkan"), ("text", "iyo"), ("bank", "tidak"),
    ("name", "Pendaftaran haji"), ("name", "Jemaah meninggal dunia"),
])
def test_stale_labels_are_not_free_text(kind: str, text: str) -> None:
    vctx = ValidationContext(LEX, TODAY, [], BANKS)
    reading = interpret(kind, [text], vctx, stale_labels=["Pendaftaran haji", "Jemaah meninggal dunia"])
    assert reading.stale and reading.value is None


@pytest.mark.parametrize("text,expected", [
    ("BSI", "Bank Syariah Indonesia"), ("rekening muamalat ambo alah dibukak pak", "Bank Muamalat Indonesia"),
    ("di bank syariah indonesia pak, cabang bukittinggi", "Bank Syariah Indonesia"), ("bank BRI", "BRI"),
    ("bri syariah", "Bank Syariah Indonesia"), ("bank nagari", "Bank Nagari Syariah"), ("bank kampung", None),
])
def test_bank_is_stored_as_its_name(text: str, expected: str | None) -> None:
    reading = interpret("bank", [text], ValidationContext(LEX, TODAY, [], BANKS))
    assert reading.value == expected
