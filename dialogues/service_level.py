"""The service-level clock: working days (office hours, weekends, national holidays, cuti bersama, office
closures) and the due date of each stage of a service, from dialogues/rules/service_levels.yml.

Counting rule: a stage of N working days is due at closing time of the N-th working day after the day the
case is received; a case received after closing time or on a day the office is closed counts as received on
the next working day.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

from dialogues.schema import WEEKDAYS, Rules, ServiceLevelRules, ServiceStage

MAX_SCAN_DAYS = 3660  # ten years: a calendar with no working day at all is a configuration error


@lru_cache(maxsize=64)
def national_holidays(year: int, cuti_bersama: bool) -> frozenset[date]:
    """Indonesian national holidays of `year` (and cuti bersama: the package's 'government' category). The
    `holidays` package (~4 MB) loads with the first deadline, not with every process."""
    import holidays as holidays_lib

    categories = ("public", "government") if cuti_bersama else ("public",)
    return frozenset(holidays_lib.country_holidays("ID", years=year, categories=categories).keys())


@dataclass(frozen=True)
class WorkCalendar:
    """Office working days in the office's time zone."""
    hours: dict[str, tuple[str, str]]
    tz: ZoneInfo
    closed: frozenset[date] = field(default_factory=frozenset)  # office holidays, closures, extra cuti bersama
    cuti_bersama: bool = True

    @classmethod
    def from_rules(cls, rules: Rules, tz: ZoneInfo) -> "WorkCalendar":
        sl = rules.service_levels
        closed = frozenset([*rules.holidays, *sl.closures, *sl.extra_cuti_bersama])
        return cls(hours=dict(rules.office_hours), tz=tz, closed=closed, cuti_bersama=sl.include_cuti_bersama)

    def is_working_day(self, day: date) -> bool:
        return (WEEKDAYS[day.weekday()] in self.hours and day not in self.closed
                and day not in national_holidays(day.year, self.cuti_bersama))

    def closing(self, day: date) -> datetime:
        hh, mm = self.hours[WEEKDAYS[day.weekday()]][1].split(":")
        return datetime.combine(day, time(int(hh), int(mm)), tzinfo=self.tz)

    def next_working_day(self, day: date) -> date:
        """The first working day strictly after `day`."""
        for offset in range(1, MAX_SCAN_DAYS):
            candidate = day + timedelta(days=offset)
            if self.is_working_day(candidate):
                return candidate
        raise ValueError("no working day in the calendar (check office_hours and closures)")

    def received_day(self, moment: datetime) -> date:
        """The working day a case received at `moment` counts as received on."""
        local = moment.astimezone(self.tz)
        day = local.date()
        if self.is_working_day(day) and local < self.closing(day):
            return day
        return self.next_working_day(day)


def aware(moment: datetime) -> datetime:
    """Naive datetimes (as SQLite returns them) are UTC."""
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment


def _after(calendar: WorkCalendar, day: date, days: int) -> datetime:
    for _ in range(days):
        day = calendar.next_working_day(day)
    return calendar.closing(day)


def add_working_days(calendar: WorkCalendar, start: datetime, days: int) -> datetime:
    """Closing time of the `days`-th working day after the day `start` counts as received (aware datetime)."""
    return _after(calendar, calendar.received_day(aware(start)), days)


def waited_working_days(calendar: WorkCalendar, paused: datetime, resumed: datetime) -> int:
    """Working days a paused clock stood still: between the working days the pause and the answer count as
    received on (an answer on the day of the pause, or before the office opens again, costs nothing)."""
    first, last = calendar.received_day(aware(paused)), calendar.received_day(aware(resumed))
    return sum(1 for n in range(1, (last - first).days + 1) if calendar.is_working_day(first + timedelta(days=n)))


def shift_working_days(calendar: WorkCalendar, due: datetime, days: int) -> datetime:
    """A due date moved `days` working days later (closing time of that working day)."""
    return due if days <= 0 else _after(calendar, aware(due).astimezone(calendar.tz).date(), days)


def working_days_between(calendar: WorkCalendar, start: datetime, end: datetime) -> int:
    """Working days in (start's local date, end's local date]; negative when `end` is before `start`."""
    start, end = aware(start), aware(end)
    if end < start:
        return -working_days_between(calendar, end, start)
    first, last = start.astimezone(calendar.tz).date(), end.astimezone(calendar.tz).date()
    return sum(1 for n in range(1, (last - first).days + 1) if calendar.is_working_day(first + timedelta(days=n)))


@dataclass(frozen=True)
class Clock:
    """Where a case stands against its service standard."""
    stage: ServiceStage
    stage_due: datetime
    expected_completion: datetime


def stage_index(levels: ServiceLevelRules, service: str, status: str) -> int | None:
    standard = levels.services.get(service)
    if standard is None:
        return None
    for index, stage in enumerate(standard.stages):
        if status in stage.statuses:
            return index
    return None


def clock_for(levels: ServiceLevelRules, calendar: WorkCalendar, service: str, status: str,
              stage_started: datetime) -> Clock | None:
    """Due dates when the stage holding `status` started at `stage_started` (None: no standard, or closed)."""
    index = stage_index(levels, service, status)
    if index is None:
        return None
    stages = levels.services[service].stages
    due = add_working_days(calendar, stage_started, stages[index].working_days)
    expected = _after(calendar, due.date(), sum(later.working_days for later in stages[index + 1:]))
    return Clock(stage=stages[index], stage_due=due, expected_completion=expected)


def time_left(calendar: WorkCalendar, now: datetime, due: datetime) -> int:
    """Working days left before `due` (0: due today; negative: breached by that many working days)."""
    now, due = aware(now), aware(due)
    if now > due:
        return -max(1, working_days_between(calendar, due, now))
    return working_days_between(calendar, now, due)


def sla_state(calendar: WorkCalendar, now: datetime, due: datetime | None, warn_days: int) -> str:
    """'breached', 'at_risk' (<= warn_days working days left) or 'ok' ('' when there is no clock)."""
    if due is None:
        return ""
    if aware(now) > aware(due):
        return "breached"
    return "at_risk" if time_left(calendar, now, due) <= warn_days else "ok"
