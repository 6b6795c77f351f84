"""The case queue: filters from the query string, counts per status and SLA highlighting."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.backoffice.states import OPEN_STATUSES, STATUSES
from bot.backoffice.texts import staff_text
from dialogues.service_level import WorkCalendar, clock_for, sla_state, stage_index, time_left
from storage.models import Case

AGE_CHOICES = {"1": 1, "3": 3, "7": 7, "14": 14, "30": 30}  # "older than N days"
MAX_QUERY = 100


@dataclass
class QueueFilter:
    service: str = ""
    status: str = ""
    age_days: int | None = None
    assigned: str = ""  # "" | "me" | "none" | staff id
    q: str = ""
    page: int = 1

    @classmethod
    def from_query(cls, query: Any, services: list[str]) -> "QueueFilter":
        f = cls()
        f.service = query.get("service", "") if query.get("service", "") in services else ""
        f.status = query.get("status", "") if query.get("status", "") in STATUSES else ""
        f.age_days = AGE_CHOICES.get(query.get("age", ""))
        assigned = query.get("assigned", "")
        f.assigned = assigned if assigned in ("me", "none") or (assigned.isdigit() and len(assigned) < 12) else ""
        f.q = query.get("q", "").strip()[:MAX_QUERY]
        page = query.get("page", "1")
        f.page = int(page) if page.isdigit() and 0 < int(page) < 100_000 else 1
        return f

    def as_query(self, **changes: Any) -> dict[str, str]:
        values = {"service": self.service, "status": self.status,
                  "age": str(self.age_days) if self.age_days else "", "assigned": self.assigned, "q": self.q}
        values.update({k: str(v) for k, v in changes.items()})
        return {k: v for k, v in values.items() if v}


def escape_like(text: str) -> str:
    """Make user text literal inside a LIKE pattern (bound parameter, escape character backslash)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def apply_filters(query: Select[Any], f: QueueFilter, staff_id: int, now: datetime,
                  with_status: bool = True) -> Select[Any]:
    if f.service:
        query = query.where(Case.service == f.service)
    if with_status and f.status:
        query = query.where(Case.status == f.status)
    if f.age_days:
        query = query.where(func.coalesce(Case.submitted_at, Case.created_at) <= now - timedelta(days=f.age_days))
    if f.assigned == "me":
        query = query.where(Case.assigned_staff_id == staff_id)
    elif f.assigned == "none":
        query = query.where(Case.assigned_staff_id.is_(None))
    elif f.assigned:
        query = query.where(Case.assigned_staff_id == int(f.assigned))
    if f.q:
        like = "%" + escape_like(f.q) + "%"
        query = query.where(or_(Case.ticket.ilike(like, escape="\\"), Case.nomor_porsi.ilike(like, escape="\\"),
                                Case.applicant_name.ilike(like, escape="\\")))
    return query


async def status_counts(session: AsyncSession, f: QueueFilter, staff_id: int, now: datetime) -> dict[str, int]:
    query = apply_filters(select(Case.status, func.count(Case.id)), f, staff_id, now, with_status=False)
    rows = (await session.execute(query.group_by(Case.status))).all()
    counts = {s: 0 for s in STATUSES}
    counts.update({status: int(n) for status, n in rows})
    return counts


async def list_cases(session: AsyncSession, f: QueueFilter, staff_id: int, now: datetime,
                     limit: int | None, offset: int = 0) -> list[Case]:
    query = apply_filters(select(Case), f, staff_id, now).order_by(  # least time left first, then oldest
        Case.sla_stage_due_at.is_(None), Case.sla_stage_due_at.asc(),
        func.coalesce(Case.submitted_at, Case.created_at).asc(), Case.id.asc())
    if limit is not None:
        query = query.limit(limit).offset(offset)
    return list((await session.execute(query)).scalars().all())


async def count_cases(session: AsyncSession, f: QueueFilter, staff_id: int, now: datetime) -> int:
    query = apply_filters(select(func.count(Case.id)), f, staff_id, now)
    return int((await session.execute(query)).scalar_one())


async def known_services(session: AsyncSession) -> list[str]:
    return sorted(s for s in (await session.execute(select(Case.service).distinct())).scalars().all() if s)


def sla_flag(case: Case, now: datetime, rules: Any) -> str:
    """'breached' / 'at_risk' / 'ok' against the service standard, 'paused' while the case waits for the
    pilgrim ('' without a running clock); `rules` is the back office's OfficeRules."""
    due = stage_due(case, rules)
    if due is None:
        return ""
    if case.sla_paused_at is not None:
        return "paused"
    calendar = WorkCalendar.from_rules(rules.rules, rules.tz)
    return sla_state(calendar, now, due, rules.rules.service_levels.warn_working_days)


def stage_due(case: Case, rules: Any) -> datetime | None:
    """The open case's stage due date; a case from before the clock existed (none stored) counts from its
    submission, as its next status change will store it."""
    if case.status not in OPEN_STATUSES:
        return None
    if case.sla_stage_due_at is not None or case.submitted_at is None:
        return case.sla_stage_due_at
    levels = rules.rules.service_levels
    if stage_index(levels, case.service, case.status) != 0:
        return None
    clock = clock_for(levels, WorkCalendar.from_rules(rules.rules, rules.tz), case.service, case.status,
                      case.submitted_at)
    return clock.stage_due if clock else None


@dataclass(frozen=True)
class SlaView:
    """A case against its service standard, as the officer reads it (case page, queue CSV)."""

    flag: str  # ok | at_risk | breached | paused
    stage: str
    stage_due: datetime
    expected: datetime | None
    days_left: int  # working days; negative: late by that many
    paused_since: datetime | None

    @property
    def time_left(self) -> str:
        if self.flag == "paused":
            return staff_text("sla_paused")
        if self.days_left < 0:
            return staff_text("sla_late", days=-self.days_left)
        return staff_text("sla_left", days=self.days_left) if self.days_left else staff_text("sla_left_today")

    def paused_note(self, tz: Any) -> str:
        since = self.paused_since.astimezone(tz).strftime("%d-%m-%Y %H.%M") if self.paused_since else "-"
        return staff_text("sla_paused_since", since=since)


def sla_view(case: Case, now: datetime, rules: Any) -> SlaView | None:
    """The running clock of an open case (None: no standard for its service, or closed)."""
    flag, due = sla_flag(case, now, rules), stage_due(case, rules)
    if not flag or due is None:
        return None
    calendar = WorkCalendar.from_rules(rules.rules, rules.tz)
    return SlaView(flag, case.sla_stage or "", due, case.sla_due_at, time_left(calendar, now, due),
                   case.sla_paused_at)
