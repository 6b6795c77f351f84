"""Reads the office's rules files (dialogues/rules/*.yml): opening hours, holidays, appointment slots and
document checklists, for the back office's own use (office-hours notice, invitation slots, checklist view)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _hhmm(value: str) -> time:
    hours, minutes = str(value).split(":")
    return time(int(hours), int(minutes))


@dataclass
class OfficeRules:
    tz: ZoneInfo
    hours: dict[int, tuple[time, time]] = field(default_factory=dict)  # weekday -> (open, close)
    holidays: set[date] = field(default_factory=set)
    slots: dict[int, list[time]] = field(default_factory=dict)
    slot_capacity: int = 4
    slot_days_ahead: int = 21
    checklists: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def load(cls, rules_dir: Path, timezone_name: str) -> "OfficeRules":
        """Read the files; a missing file or section leaves that part empty."""
        data: dict[str, Any] = {}
        for path in sorted(Path(rules_dir).glob("*.yml")):
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
            if isinstance(loaded, dict):
                data.update(loaded)
        rules = cls(tz=ZoneInfo(timezone_name))
        for day, span in (data.get("office_hours") or {}).items():
            if day in DAYS and isinstance(span, list) and len(span) == 2:
                rules.hours[DAYS.index(day)] = (_hhmm(span[0]), _hhmm(span[1]))
        rules.holidays = {d if isinstance(d, date) else date.fromisoformat(str(d)) for d in data.get("holidays") or []}
        appointments = data.get("appointments") or {}
        for day, times in (appointments.get("weekly") or {}).items():
            if day in DAYS:
                rules.slots[DAYS.index(day)] = [_hhmm(t) for t in times]
        rules.slot_capacity = int(appointments.get("capacity", 4))
        rules.slot_days_ahead = int(appointments.get("days_ahead", 21))
        rules.checklists = dict(data.get("checklists") or {})
        return rules

    def is_open(self, now: datetime) -> bool:
        local = now.astimezone(self.tz)
        span = self.hours.get(local.weekday())
        return (span is not None and local.date() not in self.holidays
                and span[0] <= local.time().replace(tzinfo=None) < span[1])

    def next_opening(self, now: datetime) -> datetime | None:
        """The next moment the office opens (now if open), in the office's time zone."""
        local = now.astimezone(self.tz)
        if self.is_open(now):
            return local
        for offset in range(0, 60):
            day = local.date() + timedelta(days=offset)
            span = self.hours.get(day.weekday())
            if span is None or day in self.holidays:
                continue
            opening = datetime.combine(day, span[0], tzinfo=self.tz)
            if opening > local:
                return opening
        return None

    def upcoming_slots(self, now: datetime) -> list[datetime]:
        """Appointment slot starts from tomorrow up to days_ahead, skipping holidays (UTC-aware)."""
        local = now.astimezone(self.tz)
        result: list[datetime] = []
        for offset in range(1, self.slot_days_ahead + 1):
            day = local.date() + timedelta(days=offset)
            if day in self.holidays:
                continue
            for start in self.slots.get(day.weekday(), []):
                result.append(datetime.combine(day, start, tzinfo=self.tz).astimezone(timezone.utc))
        return result

    def checklist(self, service: str, variant: str | None, name: str | None = None) -> list[dict[str, Any]]:
        """The checklist items for a case (its stored checklist name, else service_variant), or []."""
        for key in (name, f"{service}_{variant}" if variant else None, service):
            if key and key in self.checklists:
                return list(self.checklists[key].get("items") or [])
        return []
