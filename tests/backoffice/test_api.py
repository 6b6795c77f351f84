"""Integration API: bearer tokens, read/write scope, the same state machine."""
from sqlalchemy import select

from bot.backoffice.staff_accounts import create_token
from storage.models import AuditLog, Case
from tests.backoffice.conftest import png_bytes


async def _token(services, scope, staff_id=None):
    async with services.db.session() as s:
        _, plain = await create_token(s, f"kanwil-{scope}", scope, staff_id)
        await s.commit()
    return {"Authorization": f"Bearer {plain}"}


async def test_requires_valid_token(client, seeded):
    assert (await client.get("/api/v1/cases")).status == 401
    r = await client.get("/api/v1/cases", headers={"Authorization": "Bearer hjb_nope"})
    assert r.status == 401


async def test_read_scope_lists_gets_and_downloads_but_cannot_write(client, seeded, demo_services):
    headers = await _token(demo_services, "read")
    body = await (await client.get("/api/v1/cases", headers=headers)).json()
    assert [c["ticket"] for c in body["cases"]] == [seeded.ticket]
    assert len(body["cases"][0]["documents"]) == 2
    body = await (await client.get(f"/api/v1/cases/{seeded.ticket}", headers=headers)).json()
    docs = body["case"]["documents"]
    assert {d["item_key"] for d in docs} == {"ktp_jemaah", "surat_permohonan"}
    assert all("sha256" in d and "content_type" in d for d in docs)
    r = await client.get(f"/api/v1/cases/{seeded.ticket}/documents/{docs[0]['id']}", headers=headers)
    assert r.status == 200 and r.headers["Content-Disposition"].startswith("attachment")
    assert await r.read() == png_bytes()
    r = await client.post(f"/api/v1/cases/{seeded.ticket}/status", headers=headers, json={"action": "start_review"})
    assert r.status == 403
    async with demo_services.db.session() as s:
        assert (await s.get(Case, seeded.case_id)).status == "submitted"


async def test_write_scope_changes_status_through_state_machine(client, seeded, demo_services):
    headers = await _token(demo_services, "write")
    url = f"/api/v1/cases/{seeded.ticket}/status"
    r = await client.post(url, headers=headers, json={"status": "approved"})
    assert r.status == 409
    r = await client.post(url, headers=headers, json={"action": "start_review"})
    assert r.status == 200 and (await r.json())["case"]["status"] == "in_review"
    r = await client.post(url, headers=headers, json={"status": "approved"})
    assert r.status == 200 and (await r.json())["case"]["status"] == "approved"
    r = await client.post(url, headers=headers, json={"action": "reject"})
    assert r.status == 409
    r = await client.post(url, headers=headers, json={"action": "fly"})
    assert r.status == 400
    r = await client.post(url, headers=headers, data="not json")
    assert r.status == 400
    async with demo_services.db.session() as s:
        actors = (await s.execute(select(AuditLog.actor).where(AuditLog.case_id == seeded.case_id))).scalars().all()
    assert "api:kanwil-write" in actors


async def test_filters_and_not_found(client, seeded, demo_services):
    headers = await _token(demo_services, "read")
    body = await (await client.get("/api/v1/cases", params={"status": "approved"}, headers=headers)).json()
    assert body["cases"] == []
    assert (await client.get("/api/v1/cases", params={"status": "bogus"}, headers=headers)).status == 400
    assert (await client.get("/api/v1/cases", params={"updated_since": "yesterday"}, headers=headers)).status == 400
    assert (await client.get("/api/v1/cases/NOPE-1", headers=headers)).status == 404
    assert (await client.get(f"/api/v1/cases/{seeded.ticket}/documents/999", headers=headers)).status == 404


async def test_revoked_token_refused(client, seeded, demo_services):
    headers = await _token(demo_services, "read")
    from storage.models import ApiToken

    async with demo_services.db.session() as s:
        for t in (await s.execute(select(ApiToken))).scalars():
            t.active = False
        await s.commit()
    assert (await client.get("/api/v1/cases", headers=headers)).status == 401
