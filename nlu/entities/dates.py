"""The one reader of dates people type, shared by the NLU entities and the dialogue validators.

Indonesian order (day, month, year): 5 Juni 1960, 5 juni 60, tgl 14 agst 25, 05-06-1960, 14/8/2025, 21.11.2023,
2025-08-14, and when a date is the expected answer also 12 12 1985, 03051960, 12 bulan 3 tahun 2024.
A two-digit year is the most recent such year not after today ('60' is 1960, '25' is 2025): the dates asked
for (birth, death) are in the past. Dates without a year and impossible dates are ignored.

Compared with `dateparser` (which knows Indonesian): it misses abbreviations such as 'agst', 8-digit dates and
dates inside a sentence ('lahir 5 juni 1960 di padang'), its two-digit years depend on a setting for relative
dates, and its first call takes ~100 ms; so this small module stays ours (tests: tests/nlu/test_entities.py,
tests/dialogues/test_parsing.py).
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

MONTHS: dict[str, int] = {}
for _num, _names in enumerate((
    "januari jan janu january",
    "februari feb pebruari peb febuari febr pebr february",
    "maret mar mrt march",
    "april apr aprl",
    "mei may",
    "juni jun june",
    "juli jul july",
    "agustus agu agus agst agt ags agts agustu august aug",
    "september sep sept sepr sepember",
    "oktober okt oct october oktb",
    "november nov nop nopember novemb",
    "desember des dec desemb december",
), start=1):
    for _n in _names.split():
        MONTHS[_n] = _num

_START = r"(?<![\d\w/.\-])"  # not inside a longer number or word
_NUMERIC = re.compile(_START + r"(\d{1,4})\s*[/\-.]\s*(\d{1,2})\s*[/\-.]\s*(\d{2,4})(?![\d\w]|[/\-]\d)")
_TEXT = re.compile(_START + r"(\d{1,2})\s*[-/.]?\s*([a-z]+)\.?\s*[-/.,]?\s*('?\d{2}|\d{4})(?![\d\w])", re.IGNORECASE)
# only where a date is the expected answer: bare digit groups are read as dates
_SPACED = re.compile(r"(?<![\d/.\-])(\d{1,2}) (\d{1,2}) (\d{4})(?![\d/.\-])")
_WORDY = re.compile(r"(?<!\d)(\d{1,2})\s*(?:bulan|bln)\s*(\d{1,2})\s*(?:tahun|thn)\s*(\d{2,4})(?!\d)", re.IGNORECASE)
_COMPACT = re.compile(r"(?<!\d)(\d{2})(\d{2})(\d{4})(?!\d)")


@dataclass(frozen=True)
class FoundDate:
    value: dt.date
    start: int
    end: int


def full_year(raw: str, today: dt.date) -> int:
    """'1960' -> 1960; a two-digit '60' -> the most recent year ending in 60 not after today's year."""
    digits = raw.lstrip("'")
    year = int(digits)
    if len(digits) <= 2:
        year = 2000 + year if 2000 + year <= today.year else 1900 + year
    return year


def _date(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def find_dates(text: str, today: dt.date, *, bare_numbers: bool = True) -> list[FoundDate]:
    """All dates in `text` in order; `bare_numbers` also reads '12 12 1985', '03051960' and
    '12 bulan 3 tahun 2024' (off for free text, where such digits are more often other numbers)."""
    low = text or ""  # not lower-cased: offsets stay those of the original text
    found: list[FoundDate] = []

    def add(d: dt.date | None, m: re.Match[str]) -> None:
        if d is not None and not any(f.start <= m.start() < f.end for f in found):
            found.append(FoundDate(d, m.start(), m.end()))

    for m in _NUMERIC.finditer(low):
        a, b, c = m.groups()
        if len(a) == 4 and len(c) <= 2:
            add(_date(int(a), int(b), int(c)), m)
        elif len(a) <= 2:
            add(_date(full_year(c, today), int(b), int(a)), m)
    for m in _TEXT.finditer(low):
        month = MONTHS.get(m.group(2).lower())
        if month is not None:
            add(_date(full_year(m.group(3), today), month, int(m.group(1))), m)
    if bare_numbers:
        for m in _SPACED.finditer(low):
            add(_date(int(m.group(3)), int(m.group(2)), int(m.group(1))), m)
        for m in _WORDY.finditer(low):
            add(_date(full_year(m.group(3), today), int(m.group(2)), int(m.group(1))), m)
        for m in _COMPACT.finditer(low):
            d = _date(int(m.group(3)), int(m.group(2)), int(m.group(1)))
            if d is not None and 1900 <= d.year <= today.year:
                add(d, m)
    found.sort(key=lambda f: f.start)
    return found


def extract_dates(text: str, today: dt.date | None = None) -> list[tuple[str, str, int, int, float]]:
    """NLU entities: explicit dates in free text as ISO `YYYY-MM-DD`."""
    return [("date", f.value.isoformat(), f.start, f.end, 1.0)
            for f in find_dates(text, today or dt.date.today(), bare_numbers=False)]
