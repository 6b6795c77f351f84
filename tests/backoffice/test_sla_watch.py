"""The head of section hears of cases about to breach the service standard: signed events once per case and
stage, a daily digest, and the dashboard's watch list and on-time chart. Real database, real HTTP receiver."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import aiohttp
from aiohttp import web
from sqlalchemy import select

from bot.backoffice.office_rules import OfficeRules
from bot.backoffice.settings import BackofficeSettings
from bot.backoffice.sla_watch import check, on_time_rates
from bot.backoffice.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, Webhooks, verify
from storage.models import AuditLog, Case
from tests.backoffice.conftest import ADMIN_PASSWORD, login, seed_case

KEY = b"sla-signing-key"


async def _due(services, ticket: str, due: datetime, status: str | None = None, closed: datetime | None = None):
    async with services.db.session() as s:
        case = (await s.execute(select(Case).where(Case.ticket == ticket))).scalar_one()
        case.sla_stage, case.sla_stage_started_at = "kankemenag", due - timedelta(days=5)
        case.sla_stage_due_at = case.sla_due_at = due
        if status:
            case.status, case.closed_at = status, closed
            case.sla_stage, case.sla_stage_due_at = None, None
        await s.commit()


async def test_alerts_once_and_daily_digest_signed(demo_services, aiohttp_server):
    received: list[tuple[dict, bytes]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append((dict(request.headers), await request.read()))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/kasi", hook)
    server = await aiohttp_server(app)
    now = datetime.now(timezone.utc)
    settings = BackofficeSettings(sla_head_of_section="Kasi PHU", sla_alert_url=str(server.make_url("/kasi")),
                                  sla_digest_hour=0)
    bo = SimpleNamespace(settings=settings, webhooks=Webhooks(demo_services.db, settings, KEY),
                         rules=OfficeRules(demo_services.engine.rules, ZoneInfo("Asia/Jakarta")))
    await seed_case(demo_services, "u-1", "PBT-2026-00051")
    await seed_case(demo_services, "u-2", "PBT-2026-00052")
    await seed_case(demo_services, "u-3", "PBT-2026-00053")
    await _due(demo_services, "PBT-2026-00051", now - timedelta(hours=1))  # breached
    await _due(demo_services, "PBT-2026-00052", now + timedelta(minutes=20))  # due today
    await _due(demo_services, "PBT-2026-00053", now + timedelta(days=40))  # fine
    async with demo_services.db.session() as s:
        assert await check(s, bo, now) == {"alerts": 2, "digest": 1}
        await s.commit()
    async with demo_services.db.session() as s:
        assert await check(s, bo, now + timedelta(minutes=10)) == {"alerts": 0, "digest": 0}  # once
        await s.commit()
        actions = (await s.execute(select(AuditLog.action))).scalars().all()
    assert sorted(a for a in actions if "sla" in a) == ["case.sla_at_risk", "case.sla_breached", "sla.digest"]
    async with aiohttp.ClientSession() as http:
        assert await bo.webhooks.deliver_due(http) == 3
    bodies = {}
    for headers, body in received:
        assert verify(KEY, headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER], now=now.timestamp())
        assert b"Ahmad" not in body  # no names in the alert
        payload = json.loads(body)
        bodies[payload["event"]] = payload
    assert bodies["case.sla_breached"]["case"]["ticket"] == "PBT-2026-00051"
    assert bodies["case.sla_at_risk"]["case"]["ticket"] == "PBT-2026-00052"
    digest = bodies["sla.digest"]
    assert digest["to"] == "Kasi PHU" and digest["breached"] == 1 and digest["at_risk"] == 1
    assert "1 kasus lewat tenggat" in digest["text"] and "PBT-2026-00051" in digest["text"]
    assert "PBT-2026-00053" not in digest["text"]


async def test_dashboard_watch_list_and_on_time_chart(client, admin_id, demo_services):
    now = datetime.now(timezone.utc)
    await seed_case(demo_services, "u-4", "PBT-2026-00061")
    await seed_case(demo_services, "u-5", "PBT-2026-00062")
    await seed_case(demo_services, "u-6", "PBT-2026-00063")
    await _due(demo_services, "PBT-2026-00061", now - timedelta(hours=3))
    await _due(demo_services, "PBT-2026-00062", now + timedelta(days=2), "completed", now)  # on time
    await _due(demo_services, "PBT-2026-00063", now - timedelta(days=1), "completed", now)  # late
    async with demo_services.db.session() as s:
        rates = await on_time_rates(s, ZoneInfo("Asia/Jakarta"))
    month = now.astimezone(ZoneInfo("Asia/Jakarta")).strftime("%Y-%m")
    assert rates == {"pembatalan": {month: (1, 2)}}
    await login(client, "admin", ADMIN_PASSWORD)
    page = await (await client.get("/backoffice/dashboard")).text()
    watch = page.split('id="sla-watch"')[1].split("</section>")[0]
    assert "PBT-2026-00061" in watch and "lewat tenggat standar" in watch and "PBT-2026-00062" not in watch
    chart = page.split("Selesai tepat waktu: pembatalan")[1].split("</section>")[0]
    assert "<svg" in chart and f"<td>{month}</td><td>1</td><td>2</td><td>50.0</td>" in chart
