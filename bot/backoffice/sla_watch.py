"""Watches open cases against their service standard: a signed `case.sla_at_risk` / `case.sla_breached` event to
the head of section once per case and stage, and a daily `sla.digest` event; also the dashboard's figures
(cases to watch, on-time rate per service and month)."""
from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.background import BackgroundLoop
from bot.backoffice import audit
from bot.backoffice.queue import sla_flag
from bot.backoffice.states import OPEN_STATUSES
from bot.backoffice.texts import staff_text
from dialogues.service_level import aware
from storage.models import AuditLog, Case

log = logging.getLogger(__name__)
ALERT_EVENTS = {"at_risk": "case.sla_at_risk", "breached": "case.sla_breached"}


@dataclass(frozen=True)
class Watched:
    case: Case
    flag: str  # at_risk | breached


async def cases_to_watch(session: AsyncSession, now: datetime, rules: Any) -> list[Watched]:
    """Open cases about to breach or breached, least time left first (`rules`: OfficeRules)."""
    cases = (await session.execute(select(Case).where(
        Case.status.in_(OPEN_STATUSES), Case.sla_stage_due_at.is_not(None)).order_by(
        Case.sla_stage_due_at.asc()))).scalars().all()
    return [Watched(c, flag) for c in cases if (flag := sla_flag(c, now, rules)) in ("at_risk", "breached")]


async def on_time_rates(session: AsyncSession, tz: Any) -> dict[str, dict[str, tuple[int, int]]]:
    """service -> month ('2026-08') -> (closed on time, closed), for completed cases with a clock."""
    rows = (await session.execute(select(Case.service, Case.closed_at, Case.sla_due_at).where(
        Case.status == "completed", Case.closed_at.is_not(None), Case.sla_due_at.is_not(None)))).all()
    out: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for service, closed, due in rows:
        cell = out[service][aware(closed).astimezone(tz).strftime("%Y-%m")]
        cell[0] += aware(closed) <= aware(due)
        cell[1] += 1
    return {s: {m: (v[0], v[1]) for m, v in sorted(months.items())} for s, months in sorted(out.items())}


def _case_payload(case: Case, flag: str, head: str) -> dict[str, Any]:
    """No personal data: ticket, service, status, stage and due times only."""
    return {"to": head, "flag": flag, "case": {
        "ticket": case.ticket, "service": case.service, "status": case.status, "stage": case.sla_stage,
        "stage_due_at": aware(case.sla_stage_due_at).isoformat() if case.sla_stage_due_at else None,
        "expected_completion": aware(case.sla_due_at).isoformat() if case.sla_due_at else None}}


async def _already(session: AsyncSession, action: str, case_id: int | None, since: datetime) -> bool:
    query = select(func.count(AuditLog.id)).where(AuditLog.action == action, AuditLog.at >= since)
    query = query.where(AuditLog.case_id == case_id) if case_id is not None else query
    return bool((await session.execute(query)).scalar_one())


async def check(session: AsyncSession, bo: Any, now: datetime) -> dict[str, int]:
    """One pass: alerts for newly at-risk / breached cases and, once a day after the digest hour, the digest.
    The caller commits. Returns counts of what was queued."""
    settings, head = bo.settings, bo.settings.sla_head_of_section
    if not head:
        return {"alerts": 0, "digest": 0}
    watched = await cases_to_watch(session, now, bo.rules)
    alerts = 0
    for w in watched:
        action = ALERT_EVENTS[w.flag]
        started = aware(w.case.sla_stage_started_at or w.case.submitted_at or now)
        if await _already(session, action, w.case.id, started):
            continue
        if bo.webhooks.enqueue_event(session, action, _case_payload(w.case, w.flag, head), settings.sla_alert_url,
                                     case_id=w.case.id):
            audit.record(session, "system", action, case_id=w.case.id, stage=w.case.sla_stage)
            alerts += 1
    digest = 0
    local = now.astimezone(bo.rules.tz)
    day_start = datetime.combine(local.date(), datetime.min.time(), tzinfo=bo.rules.tz).astimezone(timezone.utc)
    if local.hour >= settings.sla_digest_hour and not await _already(session, "sla.digest", None, day_start):
        payload = digest_payload(watched, local.date(), head, bo.rules.tz)
        if bo.webhooks.enqueue_event(session, "sla.digest", payload, settings.sla_alert_url):
            audit.record(session, "system", "sla.digest", breached=payload["breached"], at_risk=payload["at_risk"])
            digest = 1
    if alerts or digest:
        log.info("SLA watch: %d alert(s), %d digest queued", alerts, digest)
    return {"alerts": alerts, "digest": digest}


def digest_payload(watched: list[Watched], day: date, head: str, tz: Any) -> dict[str, Any]:
    """The digest as data and as text for the head of section (staff texts in bot/backoffice/texts.yml)."""
    breached = sum(w.flag == "breached" for w in watched)
    lines = [staff_text("sla_digest", date=day.isoformat(), breached=breached, at_risk=len(watched) - breached)]
    lines += [staff_text("sla_digest_line", ticket=w.case.ticket, service=w.case.service,
                         status=staff_text(f"sla_{w.flag}"),
                         due=aware(w.case.sla_stage_due_at).astimezone(tz).strftime("%d/%m/%Y %H.%M"))
              for w in watched if w.case.sla_stage_due_at]
    return {"to": head, "date": day.isoformat(), "breached": breached, "at_risk": len(watched) - breached,
            "text": "\n".join(lines), "cases": [_case_payload(w.case, w.flag, head)["case"] | {"flag": w.flag}
                                                for w in watched]}


class SlaWatch:
    """Runs `check` every `sla_check_minutes` in the web process."""

    def __init__(self, bo: Any, clock: Any = lambda: datetime.now(timezone.utc)) -> None:
        self.bo = bo
        self.clock = clock
        self._loop = BackgroundLoop("SLA watch", log, self._pass, lambda: bo.settings.sla_check_minutes * 60)

    async def _pass(self) -> bool:
        async with self.bo.services.db.session() as session:
            await check(session, self.bo, self.clock())
            await session.commit()
        return False

    def start(self) -> None:
        if self.bo.settings.sla_head_of_section:
            self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()
