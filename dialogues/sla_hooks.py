"""Hooks that keep a case's service-level clock (dialogues/service_level.py) and give the pilgrim's messages
the expected completion date: called from create_case and from the back office's status changes."""
from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from dialogues.parsing import Lexicon, format_date
from dialogues.schema import Rules
from dialogues.service_level import WorkCalendar, clock_for, shift_working_days, stage_index, waited_working_days
from storage.models import Case


def start_clock(case: Case, rules: Rules, tz: ZoneInfo, started: datetime) -> bool:
    """(Re)start the clock when the case enters a new stage; clears the stage when it leaves every stage.
    Returns True when the stage changed (the pilgrim is told the new expected date)."""
    index = stage_index(rules.service_levels, case.service, case.status)
    if index is None:
        changed = case.sla_stage is not None
        case.sla_stage, case.sla_stage_due_at = None, None  # sla_due_at stays: the on-time rate compares with it
        return changed
    clock = clock_for(rules.service_levels, WorkCalendar.from_rules(rules, tz), case.service, case.status, started)
    assert clock is not None
    if case.sla_stage == clock.stage.name:
        return False
    case.sla_stage, case.sla_stage_started_at = clock.stage.name, started
    case.sla_stage_due_at, case.sla_due_at = clock.stage_due, clock.expected_completion
    return True


def pause_or_resume(case: Case, rules: Rules, tz: ZoneInfo, now: datetime) -> int:
    """Stop the clock when the case starts waiting for the pilgrim (`pause_statuses`); when it leaves that
    state, move both due dates by the working days it waited. Returns the working days added."""
    if case.status in rules.service_levels.pause_statuses:
        if case.sla_paused_at is None and case.sla_stage is not None:
            case.sla_paused_at = now
        return 0
    if case.sla_paused_at is None:
        return 0
    calendar = WorkCalendar.from_rules(rules, tz)
    days = waited_working_days(calendar, case.sla_paused_at, now)
    if case.sla_stage_due_at is not None:
        case.sla_stage_due_at = shift_working_days(calendar, case.sla_stage_due_at, days)
    if case.sla_due_at is not None:
        case.sla_due_at = shift_working_days(calendar, case.sla_due_at, days)
    case.sla_paused_at = None
    return days


def expected_vars(case: Case, rules: Rules, lexicon: Lexicon, tz: ZoneInfo) -> dict[str, Any]:
    """Template variables: expected_date, stage_due_date, stage_label, sla_basis (None when no clock runs,
    so the template line is left out)."""
    standard = rules.service_levels.services.get(case.service)
    if case.sla_stage is None or case.sla_due_at is None or standard is None:
        return {"expected_date": None, "stage_due_date": None, "stage_label": None, "sla_basis": None}
    stage = next(s for s in standard.stages if s.name == case.sla_stage)
    day = lambda moment: format_date(moment.astimezone(tz).date(), lexicon)  # noqa: E731
    return {"expected_date": day(case.sla_due_at),
            "stage_due_date": day(case.sla_stage_due_at) if case.sla_stage_due_at else None,
            "stage_label": stage.label, "sla_basis": standard.basis}


def sla_stage_change(engine: Any, case: Case, now: datetime) -> dict[str, Any]:
    """Back-office hook after a status change: restart the clock on a new stage; the variables for the
    pilgrim's message (all None unless a clock runs)."""
    rules = getattr(engine, "rules", None)
    if not isinstance(rules, Rules):
        return {}
    first_stage = stage_index(rules.service_levels, case.service, case.status) == 0
    started = case.submitted_at if case.sla_stage is None and first_stage and case.submitted_at else now
    pause_or_resume(case, rules, engine.tz, now)
    start_clock(case, rules, engine.tz, started)  # a case from before the clock existed counts from submission
    return expected_vars(case, rules, engine.lexicon, engine.tz)
