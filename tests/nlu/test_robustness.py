"""Bad input never raises; the result keeps the Rasa shape and the original text."""
from __future__ import annotations

import pytest

from nlu.backend import FALLBACK_INTENT, INTENTS
from nlu.builtin import BuiltinNLU

BAD = ["", "   ", "\n\t", "🙏🙏🙏", "😀🎉🔥", "x" * 10_000, "halo " * 3000, "\x00\x01\x02 halo \x7f", "\u200b\u200b",
       "مرحبا سلام عليكم", "привет как дела", "你好 haji 你好", "ḥājj istiṭāʿah", "1234567890123456",
       "9999999999999999", "0" * 50, "+" * 20, "[0300](porsi_number)", "{}", "<script>alert(1)</script>",
       "%s %d {0} \\n", "\ud800".encode("utf-8", "surrogatepass").decode("utf-8", "replace")]


def check_shape(result: dict, text: str) -> None:
    assert result["text"] == text
    assert result["intent"]["name"] in set(INTENTS) | {FALLBACK_INTENT}
    assert 0.0 <= result["intent"]["confidence"] <= 1.0
    assert isinstance(result["entities"], list)
    assert len(result["intent_ranking"]) <= 10
    assert "response_selector" in result


@pytest.mark.parametrize("text", BAD)
def test_bad_input_never_raises(parse, text: str) -> None:
    check_shape(parse(text), text)


def test_empty_and_emoji_only_fall_back(parse) -> None:
    assert parse("")["intent"]["name"] == FALLBACK_INTENT
    assert parse("😀🎉🔥")["intent"]["name"] == FALLBACK_INTENT


def test_non_string_input(builtin_nlu: BuiltinNLU) -> None:
    result = builtin_nlu.parse_sync(None)  # type: ignore[arg-type]
    assert result["intent"]["name"] == FALLBACK_INTENT


def test_long_input_truncated_for_classification_only(parse, nlu_settings) -> None:
    text = "saya mau batalkan pendaftaran haji " + "bla " * 5000 + " porsi 0300123456"
    result = parse(text)
    assert result["text"] == text
    assert result["intent"]["name"] == "cancel_registration"
    # entities are still found anywhere in the message, with offsets into the original
    porsi = [e for e in result["entities"] if e["entity"] == "porsi_number"]
    assert porsi and text[porsi[0]["start"]:porsi[0]["end"]] == "0300123456"
    assert len(text) > nlu_settings.max_chars


def test_sixteen_digit_non_nik(parse) -> None:
    result = parse("nik saya 9999999999999999")
    assert [e for e in result["entities"] if e["entity"] in {"nik", "porsi_number", "phone"}] == []


def test_mixed_scripts_keep_entities(parse) -> None:
    result = parse("السلام عليكم porsi 0300123456")
    assert [e["value"] for e in result["entities"]] == ["0300123456"]


async def test_async_parse_and_lifecycle(builtin_nlu: BuiltinNLU) -> None:
    assert builtin_nlu.name == "builtin"
    assert builtin_nlu.is_ready()
    result = await builtin_nlu.parse("assalamualaikum")
    assert result["intent"]["name"] == "greet"


@pytest.mark.parametrize("text", ["0812 " * 2000, "1 " * 5000, "1-" * 5000, "0300123456 " * 900, "ibu saya " * 1100,
                                  "[" * 10000, "a" * 100_000])
def test_pathological_input_is_fast(parse, text: str) -> None:
    import time

    started = time.perf_counter()
    check_shape(parse(text), text)
    assert time.perf_counter() - started < 1.0
