"""Replies reach the case: after staff ask for information or invite the pilgrim, what the pilgrim writes or
sends is the reply to that case (case page, conversation page, review queue, webhook); late documents fill the
missing checklist item; voice notes are kept and playable by staff; booked visits change by chat or by staff."""
from __future__ import annotations

import base64
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update

from bot.backoffice.settings import BackofficeSettings
from bot.backoffice.webhooks import Webhooks
from storage.models import Appointment, AuditLog, Case, CaseDocument, Conversation, Message, WebhookDelivery
from tests.backoffice.conftest import ADMIN_PASSWORD, PILGRIM_USER, login, png_bytes, seed_case
from tests.conftest import WebChat

TZ = ZoneInfo("Asia/Jakarta")
OGG_VOICE = b"OggS\x00\x02" + b"\x00" * 20 + b"OpusHead" + b"v" * 4000
# the EBML header a browser's MediaRecorder writes (DocType "webm"), then filler
WEBM_VOICE = (b"\x1aE\xdf\xa3\x9fB\x86\x81\x01B\xf7\x81\x01B\xf2\x81\x04B\xf3\x81\x08"
              b"B\x82\x84webmB\x87\x81\x04B\x85\x81\x02" + b"r" * 3000)


def attach(data: bytes, name: str, content_type: str) -> list[dict[str, str]]:
    return [{"filename": name, "content_type": content_type, "data_base64": base64.b64encode(data).decode()}]


async def act(client: Any, csrf: str, case_id: int, action: str, **fields: str) -> Any:
    return await client.post(f"/backoffice/cases/{case_id}/action", allow_redirects=False,
                             data={"csrf_token": csrf, "action": action, **fields})


async def first_slot(client: Any, case_id: int) -> str:
    page = await (await client.get(f"/backoffice/cases/{case_id}")).text()
    return page.split('<select name="slot"', 1)[1].split('value="', 1)[1].split('"', 1)[0]


def notify_staff_by_webhook(services: Any) -> None:
    """A webhook receiver is configured: replies become deliveries (not sent in the test: nothing listens)."""
    hooks = Webhooks(services.db, BackofficeSettings(webhook_url="http://127.0.0.1:9/hook"), b"k" * 32)
    services.pipeline.case_events = hooks.enqueue


async def one(services: Any, model: Any, *where: Any) -> Any:
    async with services.db.session() as s:
        return (await s.execute(select(model).where(*where))).scalars().all()


async def test_reply_to_a_request_for_information_reaches_the_case(client, admin_id, seeded, demo_services):
    notify_staff_by_webhook(demo_services)
    csrf = await login(client, "admin", ADMIN_PASSWORD)
    await act(client, csrf, seeded.case_id, "request_info", text="Mohon kirim nomor rekening Bank Muamalat ahli waris")
    heir = WebChat(client, PILGRIM_USER)
    out = await heir.say_text("rekening muamalat ambo alah dibukak pak, nomor nyo 3310012345 atas namo ambo")
    assert seeded.ticket in out and "teruskan ke petugas" in out
    assert "pelimpahan" not in out.lower() and "nomor porsi" not in out
    [conv] = await one(demo_services, Conversation, Conversation.id == seeded.conversation_id)
    assert conv.state.get("flow") is None
    [case] = await one(demo_services, Case, Case.id == seeded.case_id)
    assert case.status == "in_review"  # back in the review queue
    [reply] = await one(demo_services, AuditLog, AuditLog.action == "pilgrim_reply")
    assert reply.case_id == seeded.case_id and reply.detail["from_status"] == "need_info"
    [message] = await one(demo_services, Message, Message.id == reply.detail["message_id"])
    assert "3310012345" in message.text
    events = {d.event for d in await one(demo_services, WebhookDelivery, WebhookDelivery.case_id == seeded.case_id)}
    assert {"case.pilgrim_replied", "case.status_changed"} <= events
    page = await (await client.get(f"/backoffice/cases/{seeded.case_id}")).text()
    section = page.split('id="pilgrim-replies"', 1)[1].split("</section>", 1)[0]
    assert "3310012345" in section and "Balasan permintaan keterangan" in section
    conversation_page = await (await client.get(f"/backoffice/conversations/{seeded.conversation_id}")).text()
    assert f"Balasan untuk {seeded.ticket}" in conversation_page
    queue = await (await client.get("/backoffice/cases", params={"status": "in_review"})).text()
    assert seeded.ticket in queue and "Balasan baru" in queue
    inbox = await (await client.get("/backoffice/inbox")).text()
    replies_table = inbox.split('id="case-replies"', 1)[1].split("</table>", 1)[0]
    assert seeded.ticket in replies_table and "3310012345" in replies_table
    # a second message within the day reaches the case too; a later "makasih" is just thanks
    out = await heir.say_text("buku tabungan nyo bisuak ambo antakan ka kantor")
    assert "Tambahan keterangan" in out
    assert "Sama-sama" in await heir.say_text("makasih pak")
    assert len(await one(demo_services, AuditLog, AuditLog.action == "pilgrim_reply")) == 2
    # once an officer acts on the case, the reply is no longer waiting
    await client.post(f"/backoffice/cases/{seeded.case_id}/documents/{seeded.document_ids[0]}/review",
                      data={"csrf_token": csrf, "decision": "accept"})
    queue = await (await client.get("/backoffice/cases", params={"status": "in_review"})).text()
    assert seeded.ticket in queue and "Balasan baru" not in queue
    inbox = await (await client.get("/backoffice/inbox")).text()
    assert seeded.ticket not in inbox.split('id="case-replies"', 1)[1].split("</table>", 1)[0]


async def test_staff_approval_ends_the_wait_for_a_reply(client, admin_id, seeded, demo_services):
    csrf = await login(client, "admin", ADMIN_PASSWORD)
    await act(client, csrf, seeded.case_id, "request_info", text="Mohon kirim foto KTP yang jelas")
    await act(client, csrf, seeded.case_id, "start_review")
    await act(client, csrf, seeded.case_id, "approve")
    out = await WebChat(client, PILGRIM_USER).say_text("assalamualaikum")
    assert "teruskan ke petugas" not in out
    assert await one(demo_services, AuditLog, AuditLog.action == "pilgrim_reply") == []


async def test_file_sent_as_a_reply_fills_the_item_it_names(client, admin_id, seeded, demo_services):
    csrf = await login(client, "admin", ADMIN_PASSWORD)
    await act(client, csrf, seeded.case_id, "request_info", text="Buku tabungan belum ada, mohon dikirim")
    out = await WebChat(client, PILGRIM_USER).say_text(
        "ko buku tabungan nyo pak", attachments=attach(png_bytes("TABUNGAN"), "tabungan.png", "image/png"))
    assert "Buku tabungan jemaah" in out and seeded.ticket in out
    docs = await one(demo_services, CaseDocument, CaseDocument.case_id == seeded.case_id,
                     CaseDocument.item_key == "buku_tabungan")
    assert len(docs) == 1 and docs[0].status == "received"


async def test_reply_to_an_invitation_asks_for_another_day(client, admin_id, seeded, demo_services):
    csrf = await login(client, "admin", ADMIN_PASSWORD)
    slot = await first_slot(client, seeded.case_id)
    assert "msg=done_status" in (await act(client, csrf, seeded.case_id, "invite", slot=slot)).headers["Location"]
    heir = WebChat(client, PILGRIM_USER)
    replies = await heir.say("kamis sy berhalangan jg, bisa senin pagi?")
    text = "\n".join(r["text"] for r in replies)
    assert "Sama-sama" not in text and "teruskan ke petugas" in text
    [reply] = await one(demo_services, AuditLog, AuditLog.action == "pilgrim_reply")
    assert reply.detail["kind"] == "invite"
    offered = [c for r in replies for c in r["choices"]]
    assert offered and all(c.startswith("Senin") for c in offered), offered
    out = await heir.say_text("1" if len(offered) > 1 else "ya")
    assert "sudah diganti" in out and "GANTI JADWAL" in out
    booked = await one(demo_services, Appointment, Appointment.case_id == seeded.case_id,
                       Appointment.status == "booked")
    assert len(booked) == 1  # one active booking per case
    local = booked[0].slot_start.astimezone(TZ)
    assert local.weekday() == 0 and local.hour < 12
    page = await (await client.get(f"/backoffice/cases/{seeded.case_id}")).text()
    assert "Balasan undangan" in page and "dibatalkan" in page


async def test_pilgrim_reschedules_and_a_refused_day_is_never_offered(client, admin_id, seeded, demo_services):
    csrf = await login(client, "admin", ADMIN_PASSWORD)
    await act(client, csrf, seeded.case_id, "invite", slot=await first_slot(client, seeded.case_id))
    heir = WebChat(client, PILGRIM_USER)
    await heir.say_text("baik pak insyaallah sy datang")  # the reply to the invitation
    replies = await heir.say("eh ganti kamis siang aja deh, jumat sy ada acara")
    offered = [c for r in replies for c in r["choices"]]
    text = "\n".join(r["text"] for r in replies)
    assert "Jumat" not in "".join(offered) and "Jumat" not in text.split("Yang tersedia:")[-1]
    if offered == ["Ya", "Tidak"]:
        out = await heir.say_text("ya")
    else:
        assert all(c.startswith("Kamis") for c in offered)
        out = await heir.say_text("1")
    assert "sudah diganti" in out
    [booked] = await one(demo_services, Appointment, Appointment.case_id == seeded.case_id,
                         Appointment.status == "booked")
    local = booked.slot_start.astimezone(TZ)
    assert local.weekday() == 3 and 11 <= local.hour < 15
    # and cancels by chat, after a confirmation; the undo is said
    out = await heir.say_text("batalkan jadwal kunjungan sy pak")
    assert "Batalkan jadwal kunjungan" in out
    out = await heir.say_text("iya")
    assert "sudah dibatalkan" in out and "GANTI JADWAL" in out
    assert await one(demo_services, Appointment, Appointment.case_id == seeded.case_id,
                     Appointment.status == "booked") == []


async def test_staff_change_and_cancel_the_booked_visit(client, admin_id, seeded, demo_services):
    csrf = await login(client, "admin", ADMIN_PASSWORD)
    await act(client, csrf, seeded.case_id, "invite", slot=await first_slot(client, seeded.case_id))
    page = await (await client.get(f"/backoffice/cases/{seeded.case_id}")).text()
    form = page.split('id="appointment-change"', 1)[1].split("</form>", 1)[0]
    new_slot = form.split('value="', 2)[2].split('"', 1)[0]  # the first value is the CSRF token
    r = await client.post(f"/backoffice/cases/{seeded.case_id}/appointment", allow_redirects=False,
                          data={"csrf_token": csrf, "op": "change", "slot": new_slot})
    assert "msg=done_appointment" in r.headers["Location"]
    [booked] = await one(demo_services, Appointment, Appointment.case_id == seeded.case_id,
                         Appointment.status == "booked")
    assert booked.slot_start == datetime.fromisoformat(new_slot)
    messages = await WebChat(client, PILGRIM_USER).poll()
    assert any("diubah oleh petugas" in m["text"] for m in messages)
    r = await client.post(f"/backoffice/cases/{seeded.case_id}/appointment", allow_redirects=False,
                          data={"csrf_token": csrf, "op": "cancel"})
    assert "msg=done_appointment" in r.headers["Location"]
    assert await one(demo_services, Appointment, Appointment.status == "booked") == []
    r = await client.post(f"/backoffice/cases/{seeded.case_id}/appointment", allow_redirects=False,
                          data={"csrf_token": csrf, "op": "cancel"})
    assert "err=no_appointment" in r.headers["Location"]
    actions = {a.action for a in await one(demo_services, AuditLog, AuditLog.case_id == seeded.case_id)}
    assert "case.appointment" in actions


async def test_late_document_fills_the_missing_item_of_the_open_case(client, admin_id, demo_services):
    seeded = await seed_case(demo_services, user_id="heir-late", ticket="PBT-2026-00031")
    async with demo_services.db.session() as s:
        await s.execute(update(Case).where(Case.id == seeded.case_id).values(
            variant="meninggal", answers={"_checklist": "pembatalan_meninggal", "reason": "meninggal"}))
        await s.commit()
    heir = WebChat(client, "heir-late")
    out = await heir.say_text("ko surek keterangan waris nyo pak",
                              attachments=attach(png_bytes("WARIS"), "waris.png", "image/png"))
    assert "Surat keterangan waris" in out and seeded.ticket in out
    assert "belum ada layanan" not in out
    [doc] = await one(demo_services, CaseDocument, CaseDocument.item_key == "surat_waris")
    assert doc.case_id == seeded.case_id and doc.status == "received"
    [entry] = await one(demo_services, AuditLog, AuditLog.action == "document_late")
    assert entry.case_id == seeded.case_id and entry.detail["ids"] == [doc.id]
    await login(client, "admin", ADMIN_PASSWORD)
    page = await (await client.get(f"/backoffice/cases/{seeded.case_id}")).text()
    assert "Dokumen susulan" in page


async def test_late_document_without_a_name_asks_which_item_then_which_case(client, demo_services):
    first = await seed_case(demo_services, user_id="heir-two", ticket="PBT-2026-00041")
    second = await seed_case(demo_services, user_id="heir-two", ticket="PLH-2026-00042")
    async with demo_services.db.session() as s:
        await s.execute(update(Case).where(Case.id.in_([first.case_id, second.case_id])).values(
            answers={"_checklist": "pembatalan_meninggal"}))
        await s.commit()
    heir = WebChat(client, "heir-two")
    replies = await heir.say("", attachments=attach(png_bytes("SURAT"), "surat.png", "image/png"))
    assert "pengajuan yang mana" in replies[-1]["text"]
    assert [c.split(" ")[0] for c in replies[-1]["choices"]] == ["PLH-2026-00042", "PBT-2026-00041"]
    replies = await heir.say("2")
    assert "dokumen yang mana" in replies[-1]["text"] and "Surat keterangan kematian" in replies[-1]["choices"]
    out = await heir.say_text("surat kematian")
    assert "Surat keterangan kematian" in out and "PBT-2026-00041" in out
    [doc] = await one(demo_services, CaseDocument, CaseDocument.item_key == "surat_kematian")
    assert doc.case_id == first.case_id


async def test_voice_note_in_the_web_chat_is_kept_and_staff_can_play_it(client, admin_id, demo_services):
    pilgrim = WebChat(client, "amak-voice")
    replies = await pilgrim.say("", attachments=attach(WEBM_VOICE, "rekaman.webm", "audio/webm"))
    text = "\n".join(r["text"] for r in replies)
    assert "belum bisa mendengarkan pesan suara" in text and "berkasnya kami terima" not in text
    assert replies[-1]["choices"] == ["Ya, sambungkan ke petugas", "Tidak, saya ketik saja"]
    assert await one(demo_services, CaseDocument) == []
    [inbound] = await one(demo_services, Message, Message.direction == "in")
    assert inbound.attachments[0]["kind"] == "audio" and inbound.attachments[0]["content_type"] == "audio/webm"
    assert "petugas" in await pilgrim.say_text("ya")  # the hand-off offered for people who speak, not type
    await login(client, "admin", ADMIN_PASSWORD)
    page = await (await client.get(f"/backoffice/conversations/{inbound.conversation_id}")).text()
    assert f'<audio controls preload="none" src="/backoffice/messages/{inbound.id}/attachments/1">' in page
    served = await client.get(f"/backoffice/messages/{inbound.id}/attachments/1")
    assert served.status == 200 and served.headers["Content-Type"] == "audio/webm"
    assert await served.read() == WEBM_VOICE
    client.session.cookie_jar.clear()
    assert (await client.get(f"/backoffice/messages/{inbound.id}/attachments/1",
                             allow_redirects=False)).status in (302, 303, 401, 403)


async def test_voice_note_in_a_document_step_is_not_a_document(client, demo_services):
    pilgrim = WebChat(client, "voice-in-form")
    await pilgrim.say_text("bapak saya sudah meninggal, mau batal haji")
    async with demo_services.db.session() as s:
        flow = (await s.execute(select(Conversation))).scalar_one().state.get("flow")
    assert flow == "pembatalan"
    out = await pilgrim.say_text("", attachments=attach(OGG_VOICE, "pesan.ogg", "audio/ogg"))
    assert "belum bisa mendengarkan pesan suara" in out
    assert await one(demo_services, CaseDocument) == []
    out = await pilgrim.say_text("tidak, sy ketik saja")
    assert "kita lanjutkan" in out.lower()


async def test_voice_note_after_staff_ask_reaches_the_case(client, admin_id, seeded, demo_services):
    csrf = await login(client, "admin", ADMIN_PASSWORD)
    await act(client, csrf, seeded.case_id, "request_info", text="Siapa nama ahli waris yang menerima dana?")
    out = await WebChat(client, PILGRIM_USER).say_text("", attachments=attach(OGG_VOICE, "suara.ogg", "audio/ogg"))
    assert "Pesan suara" in out and seeded.ticket in out
    assert await one(demo_services, CaseDocument, CaseDocument.content_type == "audio/ogg") == []
    page = await (await client.get(f"/backoffice/cases/{seeded.case_id}")).text()
    section = page.split('id="pilgrim-replies"', 1)[1].split("</section>", 1)[0]
    assert "<audio controls" in section
    [case] = await one(demo_services, Case, Case.id == seeded.case_id)
    assert case.status == "in_review"



async def test_the_database_refuses_a_second_active_booking_for_a_case(demo_services, seeded):
    import pytest
    from sqlalchemy.exc import IntegrityError

    slot = datetime(2026, 12, 3, 1, 30, tzinfo=TZ).astimezone(ZoneInfo("UTC"))
    async with demo_services.db.session() as s:
        s.add(Appointment(case_id=seeded.case_id, slot_start=slot, purpose="case:pembatalan", status="booked"))
        s.add(Appointment(case_id=seeded.case_id, slot_start=slot, purpose="case:pembatalan", status="cancelled"))
        await s.commit()
        s.add(Appointment(case_id=seeded.case_id, slot_start=slot, purpose="case:pembatalan", status="booked"))
        with pytest.raises(IntegrityError):
            await s.commit()
