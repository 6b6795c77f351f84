"""OCR of KTP-like photos (generated, fictitious) and the NIK/name extraction from OCR text."""
from __future__ import annotations

import io

import pytest

from bot.docread.extract import find_niks, name_field, name_in_text, same_name
from bot.docread.reader import available, read_card
from bot.stories.ktp import VARIANTS, sample

needs_tesseract = pytest.mark.skipif(
    not available("ind"), reason="tesseract-ocr with tesseract-ocr-ind is not installed (scripts/install-test-deps.sh "
                                 "installs it when run as root)")


def test_nik_field_tolerates_ocr_confusions_only_inside_the_field() -> None:
    text = "PROVINSI SUMATERA BARAT\nNIK : 13750I4SO6B20O17\nNama : SITI AMINAH\nAlamat : JL. SUDIRMAN NO. 8"
    assert find_niks(text) == ["1375014506820017"]
    # outside a NIK field letters stay letters: no number is made up from words
    assert find_niks("BENTENG PASAR ATAS BOSSSSIOOOOLLLBB") == []
    # a plain run of digits anywhere counts when it follows the NIK rule (e.g. a KK's table)
    assert find_niks("1  SITI AMINAH 1375014506820017 PEREMPUAN") == ["1375014506820017"]


def test_an_ambiguous_nik_field_gives_no_nik_rather_than_a_wrong_one() -> None:
    assert find_niks("NIK : 137503280468358380") == []  # OCR added digits: which 16 are the NIK?
    assert find_niks("NIK : 1375 0328 0468 3580 Gol") == ["1375032804683580"]  # split digits, noise after
    assert find_niks("1 11375014506820017 LAKI-LAKI") == []  # a row number glued to a NIK in a KK table


def test_invalid_nik_is_not_taken() -> None:
    assert find_niks("NIK : 9975014506820017") == []  # no province 99
    assert find_niks("NIK : 1375019913820017") == []  # month 13... day 99
    assert find_niks("NIK : 13750145068") == []  # too short


def test_name_field_and_fuzzy_name() -> None:
    assert name_field("NIK : 1375014506820017\nNama : Siti  Aminah,\nTempat/Tgl Lahir : AGAM") == "SITI AMINAH"
    assert same_name("SITI AMlNAH", "Siti Aminah")
    assert not same_name("SITI AMINAH", "BUDI HASIBUAN")
    assert name_in_text("Nofrizal Chaniago", "2 NOFRIZAL CHANIAG0 1375010707770017 LAKI-LAKI")


@needs_tesseract
@pytest.mark.parametrize("variant", VARIANTS)
def test_nik_and_name_are_read_from_a_ktp_photo(variant: str) -> None:
    card, photo = sample(7, variant)
    reading = read_card(photo)
    assert reading.niks[:1] == [card.nik]
    assert reading.name == card.nama
    assert reading.seconds > 0


@needs_tesseract
def test_a_ktp_scanned_to_pdf_is_read() -> None:
    from PIL import Image

    card, photo = sample(8, "sharp")
    scan = io.BytesIO()
    Image.open(io.BytesIO(photo)).save(scan, "PDF", resolution=150)  # a phone's "scan to PDF"
    reading = read_card(scan.getvalue())
    assert reading.niks[:1] == [card.nik]


@needs_tesseract
def test_a_photo_without_a_card_gives_no_nik() -> None:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (800, 600), (120, 130, 140)).save(out, "JPEG")
    reading = read_card(out.getvalue())
    assert reading.niks == [] and reading.name is None
