"""The service-level clock as the officer sees it (queue order, flags, stage change) and as the pilgrim sees it
(expected date in the back office's stage-change message). Real database, real pages."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from storage.models import Case, Message
from tests.backoffice.conftest import ADMIN_PASSWORD, login, seed_case


async def _set_due(services, ticket: str, due: datetime | None, stage: str | None = "kankemenag") -> None:
    async with services.db.session() as s:
        case = (await s.execute(select(Case).where(Case.ticket == ticket))).scalar_one()
        case.sla_stage, case.sla_stage_due_at, case.sla_due_at = stage, due, due
        await s.commit()


async def test_queue_sorts_by_time_left_and_flags_breach(client, admin_id, demo_services):
    now = datetime.now(timezone.utc)
    await seed_case(demo_services, "u-a", "PBT-2026-00011", submitted_hours_ago=200)
    await seed_case(demo_services, "u-b", "PBT-2026-00012", submitted_hours_ago=1)
    await seed_case(demo_services, "u-c", "PBT-2026-00013", submitted_hours_ago=3)
    await _set_due(demo_services, "PBT-2026-00011", now + timedelta(days=30))  # oldest, but plenty of time
    await _set_due(demo_services, "PBT-2026-00012", now - timedelta(hours=2))  # breached
    await _set_due(demo_services, "PBT-2026-00013", now + timedelta(minutes=30))  # due within the hour
    await login(client, "admin", ADMIN_PASSWORD)
    page = await (await client.get("/backoffice/cases")).text()
    order = [page.index(t) for t in ("PBT-2026-00012", "PBT-2026-00013", "PBT-2026-00011")]
    assert order == sorted(order), "queue is not sorted by time left"
    row = lambda t: page.split(t)[1].split("</tr>")[0]  # noqa: E731
    assert "lewat tenggat standar" in row("PBT-2026-00012")
    assert "hampir lewat tenggat" in row("PBT-2026-00013")
    assert "tenggat" not in row("PBT-2026-00011").replace("Tenggat tahap", "")


async def test_stage_change_restarts_clock_and_tells_pilgrim(client, admin_id, seeded, demo_services):
    csrf = await login(client, "admin", ADMIN_PASSWORD)
    for action in ("start_review", "approve"):
        r = await client.post(f"/backoffice/cases/{seeded.case_id}/action", allow_redirects=False,
                              data={"csrf_token": csrf, "action": action})
        assert "msg=done_status" in r.headers["Location"]
    async with demo_services.db.session() as s:
        case = await s.get(Case, seeded.case_id)
        texts = (await s.execute(select(Message.text).where(
            Message.conversation_id == seeded.conversation_id, Message.direction == "out"))).scalars().all()
    assert case.sla_stage == "direktorat" and case.sla_stage_due_at is not None
    assert case.sla_due_at == case.sla_stage_due_at  # last stage: its due date is the expected completion
    approved = next(t for t in texts if "disetujui" in t)
    assert "Tahap berikutnya: proses di Direktorat. Perkiraan selesai:" in approved
    months = ["Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus", "September",
              "Oktober", "November", "Desember"]
    assert any(m in approved.split("Perkiraan selesai:")[1] for m in months)
    r = await client.post(f"/backoffice/cases/{seeded.case_id}/action", allow_redirects=False,
                          data={"csrf_token": csrf, "action": "complete"})
    async with demo_services.db.session() as s:
        case = await s.get(Case, seeded.case_id)
    assert case.sla_stage is None and case.sla_stage_due_at is None and case.sla_due_at is not None
