"""Normalisation: lowercase, noise stripping, elongation, slang, typos, Minang, digit groups."""
from __future__ import annotations

import pytest

from nlu.lexicon import load_lexicons
from nlu.normalize import Normalizer, join_digit_groups, strip_noise
from tests.nlu.conftest import DATA_DIR


@pytest.fixture(scope="module")
def norm() -> Normalizer:
    return Normalizer(load_lexicons(DATA_DIR / "lexicons"))


@pytest.mark.parametrize("raw,expected", [
    ("TOLOOONG", "tolong"),
    ("pagiiii", "pagi"),
    ("makasihhh", "terima kasih"),
    ("sy mau tny", "saya mau tanya"),
    ("gmn cara daftar haji utk bpk sy", "bagaimana cara daftar haji untuk bapak saya"),
    ("yg blm sdh", "yang belum sudah"),
    ("ambo nio batanyo", "saya ingin bertanya"),
    ("baa caronyo", "bagaimana caranya"),
    ("indak ado pitih", "tidak ada uang"),
    ("amak jo apak alah barangkek", "ibu dengan bapak sudah berangkat"),
    ("pembtalan porsi", "pembatalan porsi"),
    ("istitha'ah", "istithaah"),
    ("anak2", "anak anak"),
    ("Haji 🙏🙏 porsi!!!", "haji porsi"),
])
def test_normalise(norm: Normalizer, raw: str, expected: str) -> None:
    assert norm(raw) == expected


@pytest.mark.parametrize("word", ["haji", "porsi", "batal", "kk", "ktp", "sph", "lunas", "pelimpahan"])
def test_hajj_keywords_are_never_rewritten(norm: Normalizer, word: str) -> None:
    assert norm(word) == word


def test_noise_and_control_characters() -> None:
    assert strip_noise("A\x00B\u200bC\tD").split() == ["a", "b", "c", "d"]


def test_digit_groups_joined() -> None:
    assert join_digit_groups("porsi 0300 1234 56") == "porsi 0300123456"
    assert join_digit_groups("0812-3456-7890") == "081234567890"
    assert join_digit_groups("umur 12 13 tahun") == "umur 12 13 tahun"


def test_emoji_only_messages_map_to_words(norm: Normalizer) -> None:
    assert norm("👍👍") == "oke"
    assert norm("🙏") == "terima kasih"
    assert norm("🎉") == ""


def test_spelling_correction_and_abbreviations(builtin_nlu) -> None:
    norm = builtin_nlu.model.normalizer
    assert norm("pelunsan") == "pelunasan"
    assert norm("pembatalna") == "pembatalan"
    assert norm("dmn almt kntr") == "di mana alamat kantor"
    assert norm("laptop") == "laptop"  # unknown but not close to a training word: unchanged


def test_english_code_mixing(builtin_nlu) -> None:
    assert builtin_nlu.model.normalizer("how to register for hajj") == "bagaimana to daftar for haji"
