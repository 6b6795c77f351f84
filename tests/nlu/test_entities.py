"""Rule-based entity extraction: values are canonical, offsets point into the original text."""
from __future__ import annotations

import pytest

from nlu.entities import extract_entities
from nlu.entities.numbers import phone_value, plausible_nik


def ents(text: str, name: str | None = None) -> list[tuple[str, str, str]]:
    out = [(e["entity"], e["value"], text[e["start"]:e["end"]]) for e in extract_entities(text)]
    return [e for e in out if name is None or e[0] == name]


@pytest.mark.parametrize("text,value,surface", [
    ("porsi saya 0300123456", "0300123456", "0300123456"),
    ("no porsi 0300 1234 56 kapan berangkat", "0300123456", "0300 1234 56"),
    ("porsi: 0300-1234-56", "0300123456", "0300-1234-56"),
    ("nomor porsi 03.0012.3456", "0300123456", "03.0012.3456"),
    ("no porsi 0812345678", "0812345678", "0812345678"),  # 08… but the keyword says porsi
])
def test_porsi_number(text: str, value: str, surface: str) -> None:
    assert ents(text, "porsi_number") == [("porsi_number", value, surface)]


def test_porsi_not_taken_from_longer_numbers() -> None:
    assert ents("rekening 03001234567890", "porsi_number") == []
    assert ents("12345", "porsi_number") == []


@pytest.mark.parametrize("text,value", [
    ("NIK 1375014507800001", "1375014507800001"),
    ("nik saya 1375 0145 0780 0001", "1375014507800001"),
    ("nik 3174-0962-1299-0003", "3174096212990003"),  # woman: day 62 → 22
])
def test_nik(text: str, value: str) -> None:
    assert [e[1] for e in ents(text, "nik")] == [value]


@pytest.mark.parametrize("digits", ["9999999999999999", "1375019913800001", "1375013202800001", "0000000000000000",
                                    "1375014507800000"])
def test_implausible_nik_gives_no_entity(digits: str) -> None:
    assert not plausible_nik(digits)
    assert ents(f"nik saya {digits}") == []


@pytest.mark.parametrize("text,value", [
    ("hp 081234567890", "+6281234567890"),
    ("wa 0812-3456-7890", "+6281234567890"),
    ("hubungi +62 812 3456 7890", "+6281234567890"),
    ("nomor saya 6281234567890", "+6281234567890"),
    ("+6281234567890", "+6281234567890"),
    ("hp 0812 3456 789", "+62812345678" + "9"),
    ("telp 0812345678", "+62812345678"),  # 10 digits starting 08 with a phone keyword
    ("0812345678", "+62812345678"),  # no keyword: 08… is read as a phone number
])
def test_phone(text: str, value: str) -> None:
    assert [e[1] for e in ents(text, "phone")] == [value]


def test_phone_value_rejects_landlines() -> None:
    assert phone_value("0752123456") is None
    assert phone_value("021123456789") is None


def test_two_numbers_side_by_side() -> None:
    found = ents("porsi 0300123456 hp 081234567890")
    assert ("porsi_number", "0300123456", "0300123456") in found
    assert ("phone", "+6281234567890", "081234567890") in found


@pytest.mark.parametrize("text,value", [
    ("meninggal 5 Juni 2022", "2022-06-05"),
    ("tanggal 12/03/2024", "2024-03-12"),
    ("wafat 14-8-2025", "2025-08-14"),
    ("tgl 14 agst 25", "2025-08-14"),
    ("1 Januari 2020", "2020-01-01"),
    ("3 MARET 2023", "2023-03-03"),
    ("29 Peb 2024", "2024-02-29"),
    ("tgl 7 nop 2019", "2019-11-07"),
    ("21.11.2023", "2023-11-21"),
    ("wafat 2024-03-12", "2024-03-12"),
    ("5 juni 22", "2022-06-05"),
    ("05-06-2022", "2022-06-05"),
])
def test_dates(text: str, value: str) -> None:
    assert [e[1] for e in ents(text, "date")] == [value]


@pytest.mark.parametrize("text", ["31/02/2024", "tanggal 32 Juni 2022", "5 Juni", "jam 12.30"])
def test_invalid_or_partial_dates_ignored(text: str) -> None:
    assert ents(text, "date") == []


@pytest.mark.parametrize("text,value", [
    ("PBT-2026-00042", "PBT-2026-00042"),
    ("status pbt 2026 42 gimana", "PBT-2026-00042"),
    ("kode plh-2025-7", "PLH-2025-00007"),
    ("REG/2026/00107", "REG-2026-00107"),
])
def test_tickets(text: str, value: str) -> None:
    assert [e[1] for e in ents(text, "ticket")] == [value]


@pytest.mark.parametrize("text,value,surface", [
    ("porsi dilimpahkan ke suami saya", "suami", "suami"),
    ("istri saya meninggal", "istri", "istri"),
    ("almarhum bapak saya", "ayah", "bapak"),
    ("abah sudah wafat", "ayah", "abah"),
    ("mama saya sakit", "ibu", "mama"),
    ("emak sudah tua", "ibu", "emak"),
    ("amak ambo alah maninggal", "ibu", "amak"),
    ("porsi apak ambo", "ayah", "apak"),
    ("ka uda ambo", "saudara_kandung", "uda"),
    ("uni ambo nan ka manarimo", "saudara_kandung", "uni"),
    ("untuk adik saya", "saudara_kandung", "adik"),
    ("kakak saya mau menerima", "saudara_kandung", "kakak"),
    ("ke anak kandung", "anak_kandung", "anak kandung"),
    ("saudara seayah boleh?", "saudara_seayah", "saudara seayah"),
    ("saudara seibu", "saudara_seibu", "saudara seibu"),
    ("ibu", "ibu", "ibu"),
])
def test_relationships(text: str, value: str, surface: str) -> None:
    assert (("relationship", value, surface) in ents(text, "relationship"))


@pytest.mark.parametrize("text", ["iya bu, terima kasih", "pak, saya mau tanya", "kak tolong dibantu",
                                  "anak angkat saya", "selamat pagi bapak ibu"])
def test_forms_of_address_are_not_relationships(text: str) -> None:
    assert ents(text, "relationship") == []


def test_offsets_refer_to_original_text() -> None:
    text = "🙏🙏 Assalamualaikum, PORSI amak: 0300 1234 56 😊 wafat 5 Juni 2022"
    for e in extract_entities(text):
        assert text[e["start"]:e["end"]]
        assert e["extractor"] == "builtin_rules"
    assert {e["entity"] for e in extract_entities(text)} == {"porsi_number", "relationship", "date"}


@pytest.mark.parametrize("text,value", [
    ("lahir 5 juni 60", "1960-06-05"), ("lahir 05-06-60", "1960-06-05"), ("05-06-1960", "1960-06-05"),
    ("tgl lahir 3 Mei '60", "1960-05-03"),
])
def test_two_digit_years_are_the_most_recent_past_year(text: str, value: str) -> None:
    """One rule for the NLU and the dialogues (nlu/entities/dates.py): birth and death dates lie in the past."""
    import datetime as dt

    from nlu.entities.dates import extract_dates, find_dates
    today = dt.date(2026, 11, 24)
    assert [d[1] for d in extract_dates(text, today)] == [value]
    assert [f.value.isoformat() for f in find_dates(text, today)] == [value]


@pytest.mark.parametrize("digits", ["1375014508900001", "1375015506650004", "1111111111111111", "1375019908900001",
                                    "9975014508900001", "1375014508900000"])
def test_nlu_and_dialogue_agree_on_nik(digits: str) -> None:
    """The dialogue's NIK validator is the NLU's check: a number the NLU does not see as a NIK is asked again."""
    from datetime import date

    from dialogues.parsing import Lexicon
    from dialogues.validators import ValidationContext, validate
    lex = Lexicon.model_construct()
    nlu_sees_nik = [e[1] for e in ents(digits, "nik")] == [digits]
    assert (validate("nik", digits, ValidationContext(lex, date(2026, 11, 24), [])) == digits) == nlu_sees_nik
