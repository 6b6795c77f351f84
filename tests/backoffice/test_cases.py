"""Case review through the staff pages: documents, status changes, notifications, queue and exports."""
import base64
import csv
import io
from datetime import datetime

from pypdf import PdfReader
from sqlalchemy import select

from storage.models import Appointment, AuditLog, Case, CaseDocument, Message
from tests.conftest import chat_cookies
from tests.backoffice.conftest import ADMIN_PASSWORD, PILGRIM_USER, login, png_bytes, seed_case


async def _poll(client, after=0):
    r = await client.get("/webchat/messages", params={"after": str(after)}, cookies=chat_cookies(client, PILGRIM_USER))
    return [m for m in (await r.json())["messages"] if m["from"] != "me"]


async def _act(client, csrf, case_id, action, **fields):
    return await client.post(f"/backoffice/cases/{case_id}/action", allow_redirects=False,
                             data={"csrf_token": csrf, "action": action, **fields})


async def test_reject_document_asks_pilgrim_and_flow_takes_new_file(client, admin_id, seeded, demo_services):
    csrf = await login(client, "admin", ADMIN_PASSWORD)
    image_doc = seeded.document_ids[0]
    url = f"/backoffice/cases/{seeded.case_id}/documents/{image_doc}/review"
    r = await client.post(url, data={"csrf_token": csrf, "decision": "reject", "reason": ""}, allow_redirects=False)
    assert "err=reason_required" in r.headers["Location"]
    r = await client.post(url, data={"csrf_token": csrf, "decision": "reject", "reason": "Foto KTP buram"},
                          allow_redirects=False)
    assert r.status == 303 and "msg=done_doc_rejected" in r.headers["Location"]
    messages = await _poll(client)
    assert any("Foto KTP buram" in m["text"] for m in messages), messages
    async with demo_services.db.session() as s:
        case = await s.get(Case, seeded.case_id)
        doc = await s.get(CaseDocument, image_doc)
        out = (await s.execute(select(Message).where(Message.direction == "out"))).scalars().all()
    assert case.status == "in_review" and case.first_staff_action_at is not None
    assert doc.status == "rejected" and doc.reject_reason == "Foto KTP buram"
    assert out[-1].staff_id == admin_id
    # the pilgrim sends the new photo in the web chat; the flow attaches it to the same item
    new = png_bytes("KTP baru", (1000, 700))
    r = await client.post("/webchat/messages", cookies=chat_cookies(client, PILGRIM_USER), json={"text": "", "attachments": [
        {"filename": "ktp2.png", "content_type": "image/png", "data_base64": base64.b64encode(new).decode()}]})
    assert r.status == 200
    async with demo_services.db.session() as s:
        docs = (await s.execute(select(CaseDocument).where(CaseDocument.case_id == seeded.case_id,
                                                           CaseDocument.item_key == "ktp_jemaah")
                                .order_by(CaseDocument.id))).scalars().all()
    assert len(docs) == 2 and docs[0].status == "replaced" and docs[1].status == "received"


async def test_accept_document(client, admin_id, seeded, demo_services):
    csrf = await login(client, "admin", ADMIN_PASSWORD)
    r = await client.post(f"/backoffice/cases/{seeded.case_id}/documents/{seeded.document_ids[1]}/review",
                          data={"csrf_token": csrf, "decision": "accept"}, allow_redirects=False)
    assert r.status == 303
    async with demo_services.db.session() as s:
        doc = await s.get(CaseDocument, seeded.document_ids[1])
        audit = (await s.execute(select(AuditLog).where(AuditLog.action == "document.accept"))).scalar_one()
    assert doc.status == "accepted"
    assert audit.actor == "staff:admin" and audit.case_id == seeded.case_id


async def test_full_status_path_notifies_pilgrim(client, admin_id, seeded, demo_services):
    csrf = await login(client, "admin", ADMIN_PASSWORD)
    r = await _act(client, csrf, seeded.case_id, "approve")
    assert "err=illegal_transition" in r.headers["Location"]
    assert "msg=done_status" in (await _act(client, csrf, seeded.case_id, "start_review")).headers["Location"]
    assert "err=reason_required" in (await _act(client, csrf, seeded.case_id, "request_info")).headers["Location"]
    await _act(client, csrf, seeded.case_id, "request_info", text="Mohon kirim nomor rekening")
    page = await (await client.get(f"/backoffice/cases/{seeded.case_id}")).text()
    slot = page.split('<select name="slot"', 1)[1].split('value="', 1)[1].split('"', 1)[0]
    assert "err=slot_invalid" in (await _act(client, csrf, seeded.case_id, "invite",
                                             slot="2020-01-01T01:30:00+00:00")).headers["Location"]
    assert "msg=done_status" in (await _act(client, csrf, seeded.case_id, "invite", slot=slot)).headers["Location"]
    await _act(client, csrf, seeded.case_id, "approve")
    await _act(client, csrf, seeded.case_id, "complete")
    texts = [m["text"] for m in await _poll(client)]
    assert any("sedang diperiksa" in t for t in texts)
    assert any("Mohon kirim nomor rekening" in t for t in texts)
    assert any("diundang" in t and "pukul" in t for t in texts)
    assert any("disetujui" in t for t in texts)
    assert any("selesai" in t for t in texts)
    async with demo_services.db.session() as s:
        case = await s.get(Case, seeded.case_id)
        appointment = (await s.execute(select(Appointment))).scalar_one()
        actions = (await s.execute(select(AuditLog.action).where(AuditLog.case_id == case.id))).scalars().all()
    assert case.status == "completed" and case.closed_at is not None
    assert appointment.slot_start == datetime.fromisoformat(slot) and appointment.case_id == case.id
    assert {"case.start_review", "case.request_info", "case.invite", "case.approve", "case.complete"} <= set(actions)
    r = await _act(client, csrf, seeded.case_id, "reject", text="terlambat")
    assert "err=illegal_transition" in r.headers["Location"]


async def test_reject_case_with_reason(client, admin_id, seeded, demo_services):
    csrf = await login(client, "admin", ADMIN_PASSWORD)
    await _act(client, csrf, seeded.case_id, "reject", text="Nomor porsi bukan milik pemohon")
    texts = [m["text"] for m in await _poll(client)]
    assert any("Nomor porsi bukan milik pemohon" in t for t in texts)
    async with demo_services.db.session() as s:
        assert (await s.get(Case, seeded.case_id)).status == "rejected"


async def test_queue_filters_search_counts_and_sla(client, admin_id, demo_services):
    # two weeks without a stored clock (a case from before it existed): late against the 3-working-day standard
    await seed_case(demo_services, "u-old", "PBT-2026-00002", submitted_hours_ago=24 * 14)
    await seed_case(demo_services, "u-new", "PLH-2026-00003", submitted_hours_ago=2, status="in_review")
    await login(client, "admin", ADMIN_PASSWORD)
    page = await (await client.get("/backoffice/cases")).text()
    assert "PBT-2026-00002" in page and "PLH-2026-00003" in page
    row = page.split("PBT-2026-00002")[0].rsplit("<tr", 1)[1]
    assert 'class="overdue"' in row and "lewat tenggat standar" in page.split("PBT-2026-00002")[1].split("</tr>")[0]
    page = await (await client.get("/backoffice/cases", params={"status": "in_review"})).text()
    assert "PLH-2026-00003" in page and "PBT-2026-00002" not in page
    page = await (await client.get("/backoffice/cases", params={"q": "00002"})).text()
    assert "PBT-2026-00002" in page and "PLH-2026-00003" not in page
    page = await (await client.get("/backoffice/cases", params={"age": "3"})).text()
    assert "PBT-2026-00002" in page and "PLH-2026-00003" not in page
    page = await (await client.get("/backoffice/cases", params={"q": "%_'\""})).text()
    assert "Tidak ada kasus" in page
    page = await (await client.get("/backoffice/cases", params={"assigned": "none"})).text()
    assert "Diperiksa <b>1</b>" in page and "Diajukan <b>1</b>" in page


async def test_queue_csv_export(client, admin_id, demo_services):
    await seed_case(demo_services, "u1", "PBT-2026-00010")
    async with demo_services.db.session() as s:
        case = (await s.execute(select(Case))).scalar_one()
        case.applicant_name = "=HYPERLINK(\"http://x\")"
        await s.commit()
    await login(client, "admin", ADMIN_PASSWORD)
    r = await client.get("/backoffice/cases.csv", params={"status": "submitted"})
    assert r.status == 200 and r.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in r.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO((await r.read()).decode("utf-8-sig"))))
    assert rows[0][0] == "ticket" and rows[1][0] == "PBT-2026-00010"
    assert rows[1][5].startswith("'=")


async def test_documents_served_safely(client, admin_id, seeded, demo_services):
    await login(client, "admin", ADMIN_PASSWORD)
    image, pdf = seeded.document_ids
    r = await client.get(f"/backoffice/documents/{image}")
    assert r.status == 200 and r.headers["Content-Type"] == "image/png"
    assert r.headers["Content-Disposition"].startswith("inline")
    assert "sandbox" in r.headers["Content-Security-Policy"]
    r = await client.get(f"/backoffice/documents/{pdf}")
    assert r.headers["Content-Type"] == "application/pdf" and r.headers["X-Frame-Options"] == "SAMEORIGIN"
    r = await client.get(f"/backoffice/documents/{pdf}?download=1")
    assert r.headers["Content-Disposition"].startswith("attachment")
    html = await demo_services.files.put(b"<html><script>alert(1)</script></html>", "x.html")
    async with demo_services.db.session() as s:
        doc = CaseDocument(case_id=seeded.case_id, item_key="sph", sha256=html.sha256,
                           content_type="text/html", size=html.size)
        s.add(doc)
        await s.commit()
    r = await client.get(f"/backoffice/documents/{doc.id}")
    assert r.headers["Content-Type"] == "application/octet-stream"
    assert r.headers["Content-Disposition"].startswith("attachment")
    assert (await client.get("/backoffice/documents/999999")).status == 404


async def test_case_pdf_has_summary_and_every_document(client, admin_id, seeded):
    await login(client, "admin", ADMIN_PASSWORD)
    r = await client.get(f"/backoffice/cases/{seeded.case_id}/export.pdf")
    assert r.status == 200 and r.headers["Content-Type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(await r.read()))
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert "PBT-2026-00001" in text and "keinginan sendiri" in text
    # summary (>=1) + image page + caption page and 2 pages of the PDF document
    assert len(reader.pages) >= 5
    assert "Surat permohonan halaman 2" in text


async def test_assign_case(client, admin_id, petugas_id, seeded, demo_services):
    csrf = await login(client, "admin", ADMIN_PASSWORD)
    r = await client.post(f"/backoffice/cases/{seeded.case_id}/assign",
                          data={"csrf_token": csrf, "staff_id": str(petugas_id)}, allow_redirects=False)
    assert r.status == 303
    async with demo_services.db.session() as s:
        assert (await s.get(Case, seeded.case_id)).assigned_staff_id == petugas_id
    page = await (await client.get("/backoffice/cases", params={"assigned": str(petugas_id)})).text()
    assert seeded.ticket in page


async def test_replaced_document_and_closed_case_cannot_be_reviewed(client, admin_id, seeded, demo_services):
    csrf = await login(client, "admin", ADMIN_PASSWORD)
    async with demo_services.db.session() as s:
        (await s.get(CaseDocument, seeded.document_ids[0])).status = "replaced"
        await s.commit()
    url = f"/backoffice/cases/{seeded.case_id}/documents/{seeded.document_ids[0]}/review"
    r = await client.post(url, data={"csrf_token": csrf, "decision": "accept"}, allow_redirects=False)
    assert "err=invalid_input" in r.headers["Location"]
    await _act(client, csrf, seeded.case_id, "reject", text="tidak lengkap")
    url = f"/backoffice/cases/{seeded.case_id}/documents/{seeded.document_ids[1]}/review"
    r = await client.post(url, data={"csrf_token": csrf, "decision": "accept"}, allow_redirects=False)
    assert "err=invalid_input" in r.headers["Location"]
    async with demo_services.db.session() as s:
        assert (await s.get(CaseDocument, seeded.document_ids[1])).status == "received"


async def test_queue_shows_document_counts(client, admin_id, seeded):
    await login(client, "admin", ADMIN_PASSWORD)
    page = await (await client.get("/backoffice/cases")).text()
    assert "2 baru · 0 ✓" in page
