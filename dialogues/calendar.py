"""Dates and times: Hijri year of a Hajj season, office opening hours, appointment slots."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from dialogues.schema import WEEKDAYS, AppointmentRules


@lru_cache(maxsize=512)
def hajj_hijri_year(gregorian_year: int) -> int:
    """Hijri year whose Hajj (10 Dhu al-Hijjah) falls in `gregorian_year` (a fixed table: kept per year).

    Uses the Umm al-Qura calendar (hijridate) within its range (1343-1500 H, about 1924-2077);
    outside it, the mean-year approximation H = (G - 622) * 33 / 32, good to about one year.
    """
    try:
        from hijridate import Gregorian, Hijri

        first = Gregorian(gregorian_year, 1, 1).to_hijri().year
        for h in (first, first + 1):
            if Hijri(h, 12, 10).to_gregorian().year == gregorian_year:
                return h
    except (ImportError, OverflowError, ValueError):
        pass
    return round((gregorian_year - 622) * 33 / 32 + 0.5)


def _at(day: date, hhmm: str, tz: ZoneInfo) -> datetime:
    hh, mm = hhmm.split(":")
    return datetime.combine(day, time(int(hh), int(mm)), tzinfo=tz)


def office_open(now: datetime, hours: dict[str, tuple[str, str]], holidays: list[date], tz: ZoneInfo) -> bool:
    local = now.astimezone(tz)
    span = hours.get(WEEKDAYS[local.weekday()])
    if not span or local.date() in holidays:
        return False
    return _at(local.date(), span[0], tz) <= local < _at(local.date(), span[1], tz)


def next_opening(now: datetime, hours: dict[str, tuple[str, str]], holidays: list[date],
                 tz: ZoneInfo) -> datetime | None:
    """The next time the office opens after `now` (None if no opening hours are configured)."""
    local = now.astimezone(tz)
    for offset in range(0, 30):
        day = local.date() + timedelta(days=offset)
        span = hours.get(WEEKDAYS[day.weekday()])
        if not span or day in holidays:
            continue
        start = _at(day, span[0], tz)
        if start > local:
            return start
    return None


def candidate_slots(now: datetime, rules: AppointmentRules, holidays: list[date], tz: ZoneInfo) -> list[datetime]:
    """Weekly slot start times from now + lead time up to `days_ahead`, skipping holidays (office time zone)."""
    local = now.astimezone(tz)
    earliest = local + timedelta(hours=rules.min_lead_hours)
    out: list[datetime] = []
    for offset in range(0, rules.days_ahead + 1):
        day = local.date() + timedelta(days=offset)
        if day in holidays:
            continue
        for hhmm in rules.weekly.get(WEEKDAYS[day.weekday()], []):  # type: ignore[call-overload]
            start = _at(day, hhmm, tz)
            if start >= earliest:
                out.append(start)
    return sorted(out)


def hours_label(hours: dict[str, tuple[str, str]], day_names: list[str], tz: ZoneInfo) -> str:
    """Opening hours as pilgrims read them: 'Senin-Kamis 08.00-16.00 WIB, Jumat 08.00-16.30 WIB'.
    Consecutive days with the same hours are grouped; `day_names` are Monday..Sunday."""
    zone = datetime.now(tz).tzname() or ""
    groups: list[tuple[int, int, tuple[str, str]]] = []  # first day, last day, span
    for index, day in enumerate(WEEKDAYS):
        span = hours.get(day)
        if span is None:
            continue
        if groups and groups[-1][1] == index - 1 and groups[-1][2] == tuple(span):
            groups[-1] = (groups[-1][0], index, groups[-1][2])
        else:
            groups.append((index, index, (span[0], span[1])))
    parts = []
    for first, last, (start, end) in groups:
        days = day_names[first] if first == last else f"{day_names[first]}-{day_names[last]}"
        times = f"{start.replace(':', '.')}-{end.replace(':', '.')}"
        parts.append(f"{days} {times} {zone}".strip())
    return ", ".join(parts)
