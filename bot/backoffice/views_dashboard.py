"""Dashboard: cases per service and status, cases and chats per day, time to first staff action and the
share of messages the NLU did not understand, over the last N days."""
from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from typing import Any

from aiohttp import web
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.backoffice.context import Backoffice
from bot.backoffice.charts import bar_chart, stacked_bars
from bot.backoffice.sla_watch import cases_to_watch, on_time_rates
from bot.backoffice.states import STATUSES
from bot.backoffice.texts import staff_text
from bot.backoffice.web_common import bo, int_param, now_utc, render
from bot.backoffice.skm.data import ALL_SERVICES, current_quarter, ikm_report, parse_period, previous, service_label
from nlu.backend import FALLBACK_INTENT
from storage.models import Case, Message

PERIODS = (7, 30, 90)


def _days(end: date, count: int) -> list[date]:
    return [end - timedelta(days=count - 1 - i) for i in range(count)]


async def dashboard_page(request: web.Request) -> web.Response:
    context = bo(request)
    period = int_param(request.query.get("days"), 30)
    period = period if period in PERIODS else 30
    now = now_utc()
    tz = context.rules.tz
    since = now - timedelta(days=period)
    async with context.services.db.session() as session:
        by_service_status = (await session.execute(select(Case.service, Case.status, func.count(Case.id))
                                                   .group_by(Case.service, Case.status))).all()
        recent_cases = (await session.execute(select(Case.submitted_at, Case.created_at, Case.first_staff_action_at,
                                                     Case.service)
                                              .where(func.coalesce(Case.submitted_at, Case.created_at) >= since))).all()
        watched = await cases_to_watch(session, now, context.rules)  # service-level clock
        on_time = await on_time_rates(session, tz)
        inbound = (await session.execute(select(Message.created_at, Message.conversation_id, Message.intent)
                                         .where(Message.direction == "in", Message.created_at >= since))).all()
        skm = await _skm_widget(session, context, request.query.get("skm", ""), now)
    days = _days(now.astimezone(tz).date(), period)
    labels = [d.strftime("%d/%m") for d in days]
    cases_per_day = Counter((s or c).astimezone(tz).date() for s, c, _, _ in recent_cases)
    waits = [(first - (s or c)).total_seconds() / 3600 for s, c, first, _ in recent_cases if first is not None]
    week_of = {d: d - timedelta(days=d.weekday()) for d in days}
    weeks = sorted(set(week_of.values()))
    per_week: Counter[tuple[str, str]] = Counter()
    for s, c, _, service in recent_cases:
        day = (s or c).astimezone(tz).date()
        if day in week_of:
            per_week[(week_of[day].strftime("%d/%m"), service)] += 1
    chats: dict[date, set[int]] = defaultdict(set)
    parsed: Counter[date] = Counter()
    fallback: Counter[date] = Counter()
    for at, conversation_id, intent in inbound:
        day = at.astimezone(tz).date()
        chats[day].add(conversation_id)
        if intent:
            parsed[day] += 1
            fallback[day] += intent == FALLBACK_INTENT
    services = sorted({s for s, _, _ in by_service_status})
    matrix = {(s, st): int(n) for s, st, n in by_service_status}
    total_parsed = sum(parsed.values())
    return render(request, "dashboard.jinja2", {
        "period": period, "periods": PERIODS, "services": services, "statuses": STATUSES, "matrix": matrix,
        "status_chart": stacked_bars(services, list(STATUSES), matrix,
                                     {st: staff_text(f"status_{st}") for st in STATUSES}),
        "cases_chart": bar_chart(labels, [cases_per_day.get(d, 0) for d in days]),
        "weekly_chart": stacked_bars([w.strftime("%d/%m") for w in weeks],
                                     sorted({svc for _, svc in per_week}), dict(per_week)),
        "chats_chart": bar_chart(labels, [len(chats.get(d, ())) for d in days]),
        "fallback_chart": bar_chart(labels, [round(100 * fallback[d] / parsed[d], 1) if parsed[d] else 0
                                             for d in days], unit="%"),
        "cases_total": len(recent_cases), "chats_total": len({c for s in chats.values() for c in s}),
        "median_first_action_hours": round(statistics.median(waits), 1) if waits else None,
        "first_action_count": len(waits),
        "fallback_share": round(100 * sum(fallback.values()) / total_parsed, 1) if total_parsed else None,
        "messages_total": total_parsed,
        "skm": skm,
        "sla_watched": watched, "sla_charts": on_time_charts(on_time),
    })


def on_time_charts(on_time: dict[str, dict[str, tuple[int, int]]]) -> list[dict[str, object]]:
    """One bar chart per service: share of completed cases closed within the standard, per month."""
    return [{"service": service, "chart": bar_chart(list(months), [round(100 * ok / n, 1) for ok, n in months.values()],
                                                    unit="%"),
             "rows": [(m, ok, n, round(100 * ok / n, 1)) for m, (ok, n) in months.items()]}
            for service, months in on_time.items()]


async def _skm_widget(session: AsyncSession, context: Backoffice, wanted: str, now: datetime) -> dict[str, Any] | None:
    """IKM per service of a quarter or month (`?skm=2026-Q4`; default the current quarter)."""
    rules = getattr(context.services.engine.rules, "skm", None)
    if rules is None:
        return None
    this_quarter = current_quarter(now.astimezone(context.rules.tz).date())
    try:
        period = parse_period(wanted) if wanted else this_quarter
    except ValueError:
        period = this_quarter
    report = await ikm_report(session, rules, period, context.rules.tz)
    rows = [(service_label(s), r) for s, r in sorted(report.by_service.items(), key=lambda x: x[0] == ALL_SERVICES)]
    overall = report.by_service.get(ALL_SERVICES)
    return {"period": period.label, "periods": [previous(this_quarter).label, this_quarter.label],
            "rows": rows, "offered": report.offered.get(ALL_SERVICES, 0),
            "respondents": overall.respondents if overall else 0,
            "chart": bar_chart([label for label, _ in rows], [round(r.value or 0, 2) for _, r in rows])
            if rows else "",
            "elements": [(name, overall.nrr.get(key)) for key, name in report.elements] if overall else []}
