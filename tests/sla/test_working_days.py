"""Working-day arithmetic on known dates: Lebaran 2026 with cuti bersama, 17 Agustus, Christmas, weekends."""
from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from dialogues.config import load_rules
from dialogues.schema import Rules
from bot.backoffice.queue import sla_flag
from dialogues.service_level import (WorkCalendar, add_working_days, clock_for, national_holidays, shift_working_days,
                                     sla_state, time_left, waited_working_days, working_days_between)
from dialogues.sla_hooks import pause_or_resume, start_clock
from storage.models import Case

TZ = ZoneInfo("Asia/Jakarta")
RULES_DIR = Path(__file__).resolve().parents[2] / "dialogues" / "rules"


@pytest.fixture(scope="module")
def rules() -> Rules:
    return load_rules(RULES_DIR)


@pytest.fixture(scope="module")
def cal(rules: Rules) -> WorkCalendar:
    return WorkCalendar.from_rules(rules, TZ)


def at(y: int, m: int, d: int, hh: int = 10, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=TZ)


def test_holidays_package_has_cuti_bersama_2026() -> None:
    days = national_holidays(2026, True)
    assert {date(2026, 3, 20), date(2026, 3, 23), date(2026, 3, 24), date(2026, 12, 24)} <= days
    assert date(2026, 3, 24) not in national_holidays(2026, False)  # only a cuti bersama, not a national holiday


def test_lebaran_2026_pembatalan_three_then_five(rules: Rules, cal: WorkCalendar) -> None:
    # Tue 17 Mar 2026: 18 cuti bersama Nyepi, 19 Nyepi, 20 cuti bersama, 21-22 Idul Fitri (weekend),
    # 23-24 cuti bersama -> 25, 26, 27 Mar are working days 1..3; then 30, 31 Mar, 1, 2 Apr, (3 Good Friday) 6 Apr
    clock = clock_for(rules.service_levels, cal, "pembatalan", "submitted", at(2026, 3, 17))
    assert clock is not None
    assert clock.stage_due == at(2026, 3, 27, 16, 30)  # Friday closes 16.30
    assert clock.expected_completion == at(2026, 4, 6, 16, 0)


def test_independence_day(cal: WorkCalendar) -> None:
    # Fri 14 Aug 2026 -> Mon 17 Aug is a holiday: 18, 19, 20 Aug
    assert add_working_days(cal, at(2026, 8, 14), 3) == at(2026, 8, 20, 16, 0)


def test_christmas_and_cuti_bersama(cal: WorkCalendar) -> None:
    # Wed 23 Dec 2026: 24 cuti bersama, 25 Christmas, 26-27 weekend -> 28, 29, 30 Dec
    assert add_working_days(cal, at(2026, 12, 23), 3) == at(2026, 12, 30, 16, 0)


def test_after_closing_and_weekend_count_from_next_working_day(cal: WorkCalendar) -> None:
    # Friday 17.00 (after 16.30 closing) counts as received Monday 7 Sep 2026 -> Tue, Wed, Thu
    assert add_working_days(cal, at(2026, 9, 4, 17, 0), 3) == at(2026, 9, 10, 16, 0)
    # Saturday is the same
    assert add_working_days(cal, at(2026, 9, 5, 9, 0), 3) == at(2026, 9, 10, 16, 0)
    # Friday before closing: Mon, Tue, Wed
    assert add_working_days(cal, at(2026, 9, 4, 9, 0), 3) == at(2026, 9, 9, 16, 0)


def test_office_closure_is_data(rules: Rules) -> None:
    closed = rules.model_copy(update={"service_levels": rules.service_levels.model_copy(
        update={"closures": [date(2026, 9, 8)]})})
    cal = WorkCalendar.from_rules(closed, TZ)
    assert add_working_days(cal, at(2026, 9, 4, 9, 0), 3) == at(2026, 9, 10, 16, 0)


def test_cuti_bersama_can_be_switched_off(rules: Rules) -> None:
    open_on_cuti = rules.model_copy(update={"holidays": [], "service_levels": rules.service_levels.model_copy(
        update={"include_cuti_bersama": False})})
    cal = WorkCalendar.from_rules(open_on_cuti, TZ)
    # 24 Dec counts now; 25 Dec still a national holiday -> 24, 28, 29
    assert add_working_days(cal, at(2026, 12, 23), 3) == at(2026, 12, 29, 16, 0)


def test_between_and_time_left(cal: WorkCalendar) -> None:
    assert working_days_between(cal, at(2026, 8, 14), at(2026, 8, 20)) == 3
    assert working_days_between(cal, at(2026, 8, 20), at(2026, 8, 14)) == -3
    due = at(2026, 8, 20, 16, 0)
    assert time_left(cal, at(2026, 8, 19, 9), due) == 1
    assert time_left(cal, at(2026, 8, 20, 9), due) == 0
    assert time_left(cal, at(2026, 8, 21, 9), due) == -1
    assert sla_state(cal, at(2026, 8, 18, 9), due, 1) == "ok"
    assert sla_state(cal, at(2026, 8, 19, 9), due, 1) == "at_risk"
    assert sla_state(cal, at(2026, 8, 20, 16, 1), due, 1) == "breached"
    assert sla_state(cal, at(2026, 8, 20, 16, 1), None, 1) == ""


def test_second_stage_and_closed_status(rules: Rules, cal: WorkCalendar) -> None:
    clock = clock_for(rules.service_levels, cal, "pembatalan", "approved", at(2026, 8, 14))
    assert clock is not None and clock.stage.name == "direktorat"
    assert clock.stage_due == clock.expected_completion == at(2026, 8, 24, 16, 0)  # 18,19,20,21,24
    assert clock_for(rules.service_levels, cal, "pembatalan", "completed", at(2026, 8, 14)) is None
    assert clock_for(rules.service_levels, cal, "unknown", "submitted", at(2026, 8, 14)) is None


def test_waiting_for_the_pilgrim_counts_whole_working_days(cal: WorkCalendar) -> None:
    # asked Tue 15 Dec 2026, answered Wed 23 Dec: 16, 17, 18, 21, 22, 23 Dec
    assert waited_working_days(cal, at(2026, 12, 15), at(2026, 12, 23)) == 6
    assert waited_working_days(cal, at(2026, 12, 15, 9), at(2026, 12, 15, 15)) == 0  # answered the same day
    # asked Friday after closing (counts as Monday), answered Monday before closing: nothing lost
    assert waited_working_days(cal, at(2026, 9, 4, 17, 0), at(2026, 9, 7, 7, 30)) == 0
    # asked Tue 17 Mar 2026, answered Wed 25 Mar: Nyepi, Idul Fitri and cuti bersama in between -> one day
    assert waited_working_days(cal, at(2026, 3, 17), at(2026, 3, 25)) == 1


def test_due_date_moves_past_christmas_and_cuti_bersama(cal: WorkCalendar) -> None:
    due = at(2026, 12, 17, 16, 0)
    # 18, 21, 22, 23, (24 cuti bersama, 25 Christmas, weekend) 28, 29
    assert shift_working_days(cal, due, 6) == at(2026, 12, 29, 16, 0)
    assert shift_working_days(cal, due, 0) == due


def test_clock_pauses_for_the_pilgrim_and_resumes_later(rules: Rules, cal: WorkCalendar) -> None:
    case = Case(service="pembatalan", status="submitted")
    assert start_clock(case, rules, TZ, at(2026, 12, 14, 9))  # Mon 14 Dec: due Thu 17 Dec
    assert case.sla_stage_due_at == at(2026, 12, 17, 16, 0)
    expected = case.sla_due_at
    case.status = "need_info"  # staff asked for a missing document on Tue 15 Dec
    pause_or_resume(case, rules, TZ, at(2026, 12, 15, 10))
    assert case.sla_paused_at == at(2026, 12, 15, 10)
    assert sla_flag(case, at(2026, 12, 22, 10), OfficeRulesStub(rules)) == "paused"  # never 'breached' meanwhile
    case.status = "in_review"  # the pilgrim answered on Wed 23 Dec
    assert pause_or_resume(case, rules, TZ, at(2026, 12, 23, 10)) == 6
    assert case.sla_paused_at is None
    assert case.sla_stage_due_at == at(2026, 12, 29, 16, 0)
    assert case.sla_due_at == shift_working_days(cal, expected, 6)
    assert sla_flag(case, at(2026, 12, 23, 11), OfficeRulesStub(rules)) == "ok"


class OfficeRulesStub:
    """What sla_flag needs from the back office's OfficeRules."""

    def __init__(self, rules: Rules) -> None:
        self.rules, self.tz = rules, TZ
