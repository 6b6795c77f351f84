"""Survey periods (month / quarter / year) and the IKM per service of a period, read from the database.

A survey belongs to the period in which it was offered, i.e. in which the case was closed (the service
was delivered), in the office's time zone."""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.backoffice.skm.ikm import IkmResult, compute
from bot.backoffice.texts import staff_text
from dialogues.survey_rules import SkmRules
from storage.models import SkmAnswer, SkmSurvey

ALL_SERVICES = "semua"
_PERIOD = re.compile(r"^(\d{4})(?:-(?:Q([1-4])|(0[1-9]|1[0-2])))?$", re.IGNORECASE)


def service_label(service: str) -> str:
    """A service as the report names it ("semua" reads as all services)."""
    return staff_text("skm_all_services") if service == ALL_SERVICES else service


@dataclass(frozen=True)
class Period:
    label: str  # 2026-Q4 | 2026-11 | 2026
    start: date
    end: date  # exclusive

    def bounds(self, tz: ZoneInfo) -> tuple[datetime, datetime]:
        return (datetime.combine(self.start, datetime.min.time(), tz),
                datetime.combine(self.end, datetime.min.time(), tz))


def parse_period(text: str) -> Period:
    """`2026-Q4`, `2026-11` or `2026`; raises ValueError otherwise."""
    match = _PERIOD.match(text.strip())
    if not match:
        raise ValueError(f"period '{text}' is not YYYY-Qn, YYYY-MM or YYYY")
    year = int(match.group(1))
    if match.group(2):
        quarter = int(match.group(2))
        start = date(year, 3 * quarter - 2, 1)
        end = date(year + 1, 1, 1) if quarter == 4 else date(year, 3 * quarter + 1, 1)
        return Period(f"{year}-Q{quarter}", start, end)
    if match.group(3):
        month = int(match.group(3))
        start = date(year, month, 1)
        end = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
        return Period(f"{year}-{month:02d}", start, end)
    return Period(str(year), date(year, 1, 1), date(year + 1, 1, 1))


def current_quarter(today: date) -> Period:
    return parse_period(f"{today.year}-Q{(today.month - 1) // 3 + 1}")


def previous(period: Period) -> Period:
    """The period of the same kind just before `period`."""
    day = period.start - timedelta(days=1)
    if "-Q" in period.label:
        return parse_period(f"{day.year}-Q{(day.month - 1) // 3 + 1}")
    if "-" in period.label:
        return parse_period(f"{day.year}-{day.month:02d}")
    return parse_period(str(day.year))


@dataclass(frozen=True)
class SkmReport:
    period: Period
    elements: list[tuple[str, str]]  # (key, name)
    by_service: dict[str, IkmResult]  # service -> result; ALL_SERVICES for the whole office
    offered: dict[str, int]  # surveys offered per service (ALL_SERVICES too)


async def ikm_report(session: AsyncSession, rules: SkmRules, period: Period, tz: ZoneInfo) -> SkmReport:
    """The IKM per service (and for all services together) of the surveys offered in `period`."""
    start, end = period.bounds(tz)
    in_period = (SkmSurvey.offered_at >= start, SkmSurvey.offered_at < end)
    rows = (await session.execute(
        select(SkmAnswer.service, SkmAnswer.element, SkmAnswer.score, SkmAnswer.survey_id)
        .join(SkmSurvey, SkmSurvey.id == SkmAnswer.survey_id).where(*in_period))).all()
    offered_rows = (await session.execute(
        select(SkmSurvey.service, func.count(SkmSurvey.id)).where(*in_period).group_by(SkmSurvey.service))).all()
    keys = [e.key for e in rules.elements]
    scores: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    respondents: dict[str, set[int]] = defaultdict(set)
    for service, element, score, survey_id in rows:
        for bucket in (service, ALL_SERVICES):
            scores[bucket][element].append(int(score))
            respondents[bucket].add(int(survey_id))
    by_service = {bucket: compute(keys, per_element, len(respondents[bucket]), rules.weight)
                  for bucket, per_element in sorted(scores.items())}
    offered = {service: int(n) for service, n in offered_rows}
    offered[ALL_SERVICES] = sum(offered.values())
    return SkmReport(period, [(e.key, e.name) for e in rules.elements], by_service, offered)
