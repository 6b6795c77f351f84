"""The service-level clock as the officer sees it (queue order, flags, stage change) and as the pilgrim sees it
(expected date in the back office's stage-change message). Real database, real pages."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from storage.models import Case, Message
from tests.backoffice.conftest import ADMIN_PASSWORD, PILGRIM_USER, login, seed_case


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


async def test_case_page_csv_and_the_clock_stopping_while_the_pilgrim_is_asked(client, admin_id, seeded,
                                                                                demo_services):
    import csv
    import io
    import re

    from dialogues.service_level import WorkCalendar, shift_working_days, waited_working_days
    from tests.conftest import WebChat

    csrf = await login(client, "admin", ADMIN_PASSWORD)
    act = lambda action, **f: client.post(f"/backoffice/cases/{seeded.case_id}/action",  # noqa: E731
                                          allow_redirects=False, data={"csrf_token": csrf, "action": action, **f})
    await act("start_review")
    page = await (await client.get(f"/backoffice/cases/{seeded.case_id}")).text()
    assert re.search(r'id="sla-left">(sisa \d hari kerja|tenggat hari ini)<', page)
    assert re.search(r'id="sla-expected">\d\d-\d\d-\d{4} \d\d\.\d\d<', page)
    rows = list(csv.DictReader(io.StringIO((await (await client.get("/backoffice/cases.csv")).text()).lstrip("\ufeff"))))
    [row] = [r for r in rows if r["ticket"] == seeded.ticket]
    async with demo_services.db.session() as s:
        case = await s.get(Case, seeded.case_id)
    assert row["sla"] in ("ok", "at_risk") and row["stage_due_at"] == case.sla_stage_due_at.isoformat()
    assert row["working_days_left"] in ("0", "1", "2", "3") and row["expected_completion"]

    await act("request_info", text="Mohon kirim foto buku tabungan")
    page = await (await client.get(f"/backoffice/cases/{seeded.case_id}")).text()
    assert 'id="sla-left">jam berhenti (menunggu jamaah)<' in page and "tenggat bergeser" in page
    queue = await (await client.get("/backoffice/cases")).text()
    assert "jam berhenti" in queue.split(seeded.ticket)[1].split("</tr>")[0]
    async with demo_services.db.session() as s:  # the pilgrim takes eight days to answer
        case = await s.get(Case, seeded.case_id)
        assert case.sla_paused_at is not None
        case.sla_paused_at -= timedelta(days=8)
        paused, due, expected = case.sla_paused_at, case.sla_stage_due_at, case.sla_due_at
        await s.commit()
    await WebChat(client, PILGRIM_USER).say_text("ini foto buku tabungan saya pak, nomor 1234567")
    async with demo_services.db.session() as s:
        case = await s.get(Case, seeded.case_id)
    rules = demo_services.engine.rules
    cal = WorkCalendar.from_rules(rules, demo_services.engine.tz)
    waited = waited_working_days(cal, paused, datetime.now(timezone.utc))
    assert case.status == "in_review" and case.sla_paused_at is None and waited >= 4
    assert case.sla_stage_due_at == shift_working_days(cal, due, waited)
    assert case.sla_due_at == shift_working_days(cal, expected, waited)
