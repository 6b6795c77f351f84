"""The parse cache of the built-in backend: the same results as parsing, each caller its own copy."""
from __future__ import annotations

import datetime as dt

import pytest

from nlu.builtin import BuiltinNLU
from nlu.parse_cache import MAX_TEXT_CHARS, ParseCache


def test_repeated_text_gives_an_equal_result_that_is_its_own_copy(builtin_nlu: BuiltinNLU) -> None:
    text = "terima kasih banyak pak, porsi 0312345678 ya"
    builtin_nlu.parse_sync(text)  # kept from the second time on
    first = builtin_nlu.parse_sync(text)
    first["intent"]["name"] = "changed by a caller"
    first["entities"].clear()
    again, third = builtin_nlu.parse_sync(text), builtin_nlu.parse_sync(text)
    uncached = builtin_nlu.model.parse(text, builtin_nlu.settings.max_chars, builtin_nlu.settings.fallback_threshold,
                                       builtin_nlu.tuning)
    assert again == third == uncached
    assert again is not third and again["entities"] is not third["entities"]


def put_twice(cache: ParseCache, text: str, result: dict) -> None:
    cache.put(text, result)
    cache.put(text, result)


def test_a_text_is_kept_from_its_second_time_on() -> None:
    cache = ParseCache(2)
    cache.put("a", {"n": 1})
    assert cache.get("a") is None
    cache.put("a", {"n": 1})
    assert cache.get("a") == {"n": 1}


def test_least_recently_used_text_goes_first() -> None:
    cache = ParseCache(2)
    put_twice(cache, "a", {"n": 1})
    put_twice(cache, "b", {"n": 2})
    assert cache.get("a") == {"n": 1}  # "b" is now the least recently used
    put_twice(cache, "c", {"n": 3})
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == ({"n": 1}, None, {"n": 3})


def test_long_texts_and_size_zero_keep_nothing() -> None:
    cache = ParseCache(10)
    put_twice(cache, "x" * (MAX_TEXT_CHARS + 1), {"n": 1})
    assert len(cache) == 0
    off = ParseCache(0)
    put_twice(off, "halo", {"n": 1})
    assert off.get("halo") is None


def test_a_new_day_drops_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two-digit years are read relative to today, so yesterday's results may be stale."""
    cache = ParseCache(10)
    put_twice(cache, "lahir 5 juni 27", {"n": 1})
    assert cache.get("lahir 5 juni 27") == {"n": 1}

    class Tomorrow(dt.date):
        @classmethod
        def today(cls) -> dt.date:
            return dt.date(2100, 1, 1)

    monkeypatch.setattr(dt, "date", Tomorrow)
    assert cache.get("lahir 5 juni 27") is None
