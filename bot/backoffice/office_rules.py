"""The office's rules as the back office needs them (opening hours, appointment slots, checklists), read from the
dialogue engine's validated rules (dialogues/rules/*.yml) with the dialogue calendar: one source for both."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

from dialogues.calendar import candidate_slots, next_opening, office_open
from dialogues.schema import Rules


@dataclass(frozen=True)
class OfficeRules:
    rules: Rules
    tz: ZoneInfo

    @property
    def slot_capacity(self) -> int:
        return self.rules.appointments.capacity

    def is_open(self, now: datetime) -> bool:
        return office_open(now, self.rules.office_hours, self.rules.holidays, self.tz)

    def next_opening(self, now: datetime) -> datetime | None:
        """The next moment the office opens (now if open), in the office's time zone."""
        if self.is_open(now):
            return now.astimezone(self.tz)
        return next_opening(now, self.rules.office_hours, self.rules.holidays, self.tz)

    def upcoming_slots(self, now: datetime) -> list[datetime]:
        """Appointment slot starts after the lead time up to `days_ahead`, skipping holidays (UTC-aware)."""
        return [slot.astimezone(timezone.utc)
                for slot in candidate_slots(now, self.rules.appointments, self.rules.holidays, self.tz)]

    def checklist(self, service: str, variant: str | None, name: str | None = None) -> list[dict[str, Any]]:
        """The checklist items for a case (its stored checklist name, else service_variant), or []."""
        for key in (name, f"{service}_{variant}" if variant else None, service):
            if key and key in self.rules.checklists:
                return [item.model_dump() for item in self.rules.checklists[key].items]
        return []
