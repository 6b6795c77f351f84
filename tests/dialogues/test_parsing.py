from datetime import date
from pathlib import Path

import pytest

from dialogues.config import load_bundle
from dialogues.parsing import find_number, mask_name, parse_name, parse_yes_no, pick_option
from dialogues.validators import ValidationContext, validate
from nlu.entities.dates import find_dates

ROOT = Path(__file__).resolve().parents[2] / "dialogues"
LEX = load_bundle(ROOT / "flows", ROOT / "responses", ROOT / "rules").rules.language
TODAY = date(2026, 11, 24)


@pytest.mark.parametrize("text,expected", [
    ("14/08/2025", date(2025, 8, 14)), ("14-8-2025", date(2025, 8, 14)), ("14 Agustus 2025", date(2025, 8, 14)),
    ("tgl 14 agst 25", date(2025, 8, 14)), ("lahir 3 Mei 1960", date(1960, 5, 3)), ("3 mei 60", date(1960, 5, 3)),
    ("2025-08-14", date(2025, 8, 14)), ("14.08.2025", date(2025, 8, 14)), ("1 Nopember 1970", date(1970, 11, 1)),
    ("wafat tanggal 7 des 2024 pagi", date(2024, 12, 7)), ("14 Agt 2025", date(2025, 8, 14)),
    ("31-9-2025", None), ("tidak tahu", None), ("0312345678", None),
])
def test_dates(text: str, expected: date | None) -> None:
    found = find_dates(text, TODAY)
    assert (found[0].value if found else None) == expected


@pytest.mark.parametrize("text,expected", [
    ("0312345678", "0312345678"), ("0312 345 678", "0312345678"), ("0312-345-678", "0312345678"),
    ("porsi saya 0312345678 lahir 3 Mei 1960", "0312345678"), ("1375014508900001", None), ("12345", None),
])
def test_porsi_numbers(text: str, expected: str | None) -> None:
    assert find_number(text, 10) == expected


@pytest.mark.parametrize("text,expected", [
    ("ya", True), ("iya", True), ("Iyaa", True), ("betul", True), ("ok", True), ("lanjut", True), ("benar", True),
    ("yo", True), ("iyo", True), ("sudah", True), ("tidak", False), ("nggak", False), ("indak", False),
    ("ndak", False), ("belum pernah", False), ("tidak pernah", False), ("hmm", None),
])
def test_yes_no(text: str, expected: bool | None) -> None:
    assert parse_yes_no(text, LEX) is expected


def test_pick_option() -> None:
    labels = ["Saya sendiri (jemaah)", "Jemaah sudah meninggal (oleh ahli waris)"]
    words = [["sendiri"], ["meninggal", "wafat", "almarhum"]]
    assert pick_option("2", labels, words) == 1
    assert pick_option("no 1", labels, words) == 0
    assert pick_option("ibu saya sudah wafat", labels, words) == 1
    assert pick_option("saya sendiri", labels, words) == 0
    assert pick_option("5", labels, words) is None


def test_names_and_masks() -> None:
    assert parse_name("  Siti   Aminah ") == "Siti Aminah"
    assert parse_name("0312345678") is None and parse_name("?") is None
    assert mask_name("Siti Aminah Rahman") == "SITI A***"


def test_identity_and_other_validators() -> None:
    ctx = ValidationContext(LEX, TODAY, [])
    assert validate("identity", "5 Juni 1960", ctx) == "1960-06-05"
    assert validate("identity", "4 digit terakhir 0001", ctx) == "nik:0001"
    assert validate("identity", "1375014506600001", ctx) == "nik:0001"
    assert validate("past_date", "1 Januari 2030", ctx) is None
    assert validate("nik", "1375 0145 0890 0001", ctx) == "1375014508900001"
    assert validate("nik", "1111111111111111", ctx) is None
    assert validate("account_number", "no rek 7123-4567-89", ctx) == "7123456789"
    assert validate("ticket", "status pbt 2026 42", ctx) == "PBT-2026-00042"


def test_spaced_numeric_date_and_minang_words() -> None:
    assert find_dates("12 12 1985", TODAY)[0].value == date(1985, 12, 12)
    assert parse_yes_no("alah", LEX) is True and parse_yes_no("alun", LEX) is False


def test_compact_date() -> None:
    assert find_dates("03051960", TODAY)[0].value == date(1960, 5, 3)
    assert find_dates("0312345678", TODAY) == []


def test_wordy_date() -> None:
    assert find_dates("wafatnya tanggal 12 bulan 3 tahun 2024", TODAY)[0].value == date(2024, 3, 12)


def test_office_hours_text_is_written_from_the_rules() -> None:
    from zoneinfo import ZoneInfo

    from dialogues.calendar import hours_label

    days = ["Senin", "Selasa", "Rabu", "Kamis", "Jumat", "Sabtu", "Minggu"]
    hours = {"monday": ("08:00", "16:00"), "tuesday": ("08:00", "16:00"), "wednesday": ("08:00", "16:00"),
             "thursday": ("08:00", "16:00"), "friday": ("08:00", "16:30"), "saturday": ("08:00", "12:00")}
    assert hours_label(hours, days, ZoneInfo("Asia/Jakarta")) == \
        "Senin-Kamis 08.00-16.00 WIB, Jumat 08.00-16.30 WIB, Sabtu 08.00-12.00 WIB"
    assert hours_label({"monday": ("07:30", "15:00"), "wednesday": ("07:30", "15:00")}, days,
                       ZoneInfo("Asia/Jayapura")) == "Senin 07.30-15.00 WIT, Rabu 07.30-15.00 WIT"


@pytest.mark.parametrize("text,phrases,expected", [
    ("saya mau bicara dengan petugas", ["petugas", "bicara dengan petugas"], "bicara dengan petugas"),  # longest
    ("iyaaa betul", ["iya"], "iya"),  # repeated letters
    ("biayanya berapa", ["biaya"], "biaya"),  # particle -nya
    ("e-ktp saya hilang", ["ktp"], "ktp"),  # word joiners split words
    ("petugasnya", ["tugas"], None),  # whole words only
    ("", ["", "x"], ""),
    ("halo", [], None),
])
def test_contains_phrase(text: str, phrases: list[str], expected: str | None) -> None:
    from dialogues.parsing import contains_phrase

    assert contains_phrase(text, phrases) == expected


def test_is_only() -> None:
    from dialogues.parsing import is_only

    assert is_only("Menuuu!", ["menu"]) and not is_only("menu dong", ["menu"])


def test_render_template_static_and_missing_lines() -> None:
    from dialogues.render import render_template, static_text

    assert static_text("Halo {{kantor}}\n") == "Halo {kantor}" == render_template("Halo {{kantor}}\n", {"x": 1})
    assert static_text("Halo {name}") is None
    template = "Nama: {name}\nWafat: {died}\n{{tetap}} {x.real}"
    assert render_template(template, {"name": "Siti", "died": None, "x": 2}) == "Nama: Siti\n{tetap} 2"
    assert render_template(template, {"name": None, "died": [], "x": None}) == ""
