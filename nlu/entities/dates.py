"""Explicit Indonesian dates → ISO `YYYY-MM-DD` (5 Juni 2022, 12/03/2024, 14-8-2025, tgl 14 agst 25, 2024-03-12).

Day-month order is Indonesian (DD/MM/YYYY); dates without a year or impossible dates are ignored."""
from __future__ import annotations

import datetime as dt
import re

MONTHS: dict[str, int] = {}
for _num, _names in enumerate((
    "januari jan janu january",
    "februari feb pebruari peb febuari febr pebr february",
    "maret mar mrt march",
    "april apr aprl",
    "mei may",
    "juni jun june",
    "juli jul july",
    "agustus agu agus agst agt ags agts august aug",
    "september sep sept sepr",
    "oktober okt oct october oktb",
    "november nov nop nopember novemb",
    "desember des dec desemb december",
), start=1):
    for _n in _names.split():
        MONTHS[_n] = _num

_MONTH_ALT = "|".join(sorted(MONTHS, key=len, reverse=True))
_NAMED = re.compile(rf"(?<![\d\w])(\d{{1,2}})\s*[-/ .]?\s*({_MONTH_ALT})\.?\s*[-/ .,]?\s*('?\d{{2}}|\d{{4}})(?![\d\w])",
                    re.IGNORECASE)
_ISO = re.compile(r"(?<![\d\w/.-])((?:19|20)\d\d)-(\d{1,2})-(\d{1,2})(?![\d\w/-])")
_NUMERIC = re.compile(r"(?<![\d\w/.-])(\d{1,2})\s?([/.-])\s?(\d{1,2})\s?\2\s?(\d{4}|\d{2})(?![\d\w/-])")


def _year(raw: str) -> int:
    raw = raw.lstrip("'")
    year = int(raw)
    if len(raw) == 2:
        year += 2000 if year <= 69 else 1900
    return year


def _iso(day: int, month: int, year: int) -> str | None:
    try:
        return dt.date(year, month, day).isoformat()
    except ValueError:
        return None


def extract_dates(text: str) -> list[tuple[str, str, int, int, float]]:
    out = []
    for m in _NAMED.finditer(text):
        iso = _iso(int(m.group(1)), MONTHS[m.group(2).lower()], _year(m.group(3)))
        if iso:
            out.append(("date", iso, m.start(), m.end(), 1.0))
    for m in _ISO.finditer(text):
        iso = _iso(int(m.group(3)), int(m.group(2)), int(m.group(1)))
        if iso:
            out.append(("date", iso, m.start(), m.end(), 1.0))
    for m in _NUMERIC.finditer(text):
        if any(s <= m.start() < e for _, _, s, e, _ in out):
            continue
        iso = _iso(int(m.group(1)), int(m.group(3)), _year(m.group(4)))
        if iso:
            out.append(("date", iso, m.start(), m.end(), 1.0))
    return out
