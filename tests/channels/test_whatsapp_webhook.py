"""WhatsApp inbound through Twilio's webhook format: signatures (RequestValidator), empty TwiML after
storing, deduplication by MessageSid, media behind basic auth, over-size media, status callbacks,
outbound media served to Twilio."""
from __future__ import annotations

from typing import Any

from tests.channels.conftest import eventually, wait_until
from tests.channels.fake_twilio import ACCOUNT_SID, inbound_params, signed
from tests.channels.helpers import conversation, message, messages, queue

PUBLIC = "https://haji.example.go.id"
HOOK = "/whatsapp/webhook"
STATUS = "/whatsapp/status"
PHONE = "+6281234567890"
USER = f"whatsapp:{PHONE}"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF" + b"z" * 4000


async def post_signed(client: Any, path: str, params: dict[str, str], **headers: str) -> Any:
    return await client.post(path, data=params, headers={**signed(PUBLIC + path, params), **headers})


async def sent_sid(services: Any, message_id: int) -> str | None:
    row = await message(services, message_id)
    return row.channel_message_id if row.status == "sent" else None


async def idle(services: Any) -> None:
    await services.channels["whatsapp"].wait_idle()


async def test_signed_message_is_stored_and_answered_with_empty_twiml(channel_client, channel_services,
                                                                      fake_twilio):
    response = await post_signed(channel_client, HOOK, inbound_params("assalamualaikum", "SM" + "a" * 32))
    assert response.status == 200
    assert response.content_type == "text/xml"
    assert (await response.text()).replace("\n", "") == '<?xml version="1.0" encoding="UTF-8"?><Response />'
    [inbound] = await messages(channel_services, "whatsapp", "in")
    assert (inbound.text, inbound.channel_message_id) == ("assalamualaikum", "SM" + "a" * 32)
    conv = await conversation(channel_services, "whatsapp", USER)
    assert conv is not None and conv.display_name == "Siti Aminah"
    await wait_until(lambda: len(fake_twilio.created) >= 1)
    created = fake_twilio.created[0]
    assert created.one("To") == USER and created.one("From") == "whatsapp:+14155238886"
    assert created.one("StatusCallback") == PUBLIC + STATUS


async def test_choices_render_as_numbered_list(channel_client, channel_services, fake_twilio):
    await post_signed(channel_client, HOOK, inbound_params("menu", "SM" + "b" * 32))
    await wait_until(lambda: any("Balas 1, 2" in b for b in fake_twilio.bodies()))
    body = next(b for b in fake_twilio.bodies() if "Balas 1, 2" in b)
    assert "\n1. " in body and "\n2. " in body
    count = sum(1 for line in body.splitlines() if line[:1].isdigit() and ". " in line)
    assert body.rstrip().endswith(f"atau {count}.")


async def test_wrong_or_missing_signature_is_refused(channel_client, channel_services):
    params = inbound_params("halo", "SM" + "c" * 32)
    bad = await channel_client.post(HOOK, data=params, headers=signed(PUBLIC + HOOK, params, token="0" * 32))
    assert bad.status == 403
    assert (await channel_client.post(HOOK, data=params)).status == 403
    tampered = dict(params, Body="transfer ke rekening lain")
    assert (await channel_client.post(HOOK, data=tampered, headers=signed(PUBLIC + HOOK, params))).status == 403
    wrong_url = await channel_client.post(HOOK, data=params, headers=signed("https://evil.example" + HOOK, params))
    assert wrong_url.status == 403
    assert await messages(channel_services, "whatsapp") == []


async def test_redelivered_message_sid_is_processed_once(channel_client, channel_services, fake_twilio):
    params = inbound_params("halo", "SM" + "d" * 32)
    assert (await post_signed(channel_client, HOOK, params)).status == 200
    await idle(channel_services)
    await wait_until(lambda: len(fake_twilio.created) >= 1)
    replies = len(await messages(channel_services, "whatsapp", "out"))
    assert (await post_signed(channel_client, HOOK, params)).status == 200
    await idle(channel_services)
    assert len(await messages(channel_services, "whatsapp", "in")) == 1
    assert len(await messages(channel_services, "whatsapp", "out")) == replies


async def test_media_fetched_with_basic_auth(channel_client, channel_services, fake_twilio):
    url = fake_twilio.add_media("ME" + "1" * 32, "image/jpeg", JPEG)
    params = inbound_params("", "SM" + "e" * 32, media=[(url, "image/jpeg")])
    assert (await post_signed(channel_client, HOOK, params)).status == 200
    assert fake_twilio.media_requests == ["ME" + "1" * 32]
    [inbound] = await messages(channel_services, "whatsapp", "in")
    [attachment] = inbound.attachments
    assert attachment["filename"] == "foto-1.jpg" and attachment["size"] == len(JPEG)
    assert await channel_services.files.read(attachment["sha256"]) == JPEG


async def test_oversize_media_is_refused_with_a_notice(channel_client, channel_services, fake_twilio):
    limit = channel_services.settings.config.dialogue.max_upload_bytes
    url = fake_twilio.add_media("ME" + "2" * 32, "application/pdf", b"%PDF-1.4\n" + b"0" * limit)
    params = inbound_params("", "SM" + "f" * 32, media=[(url, "application/pdf")])
    assert (await post_signed(channel_client, HOOK, params)).status == 200
    await idle(channel_services)
    assert await messages(channel_services, "whatsapp", "in") == []
    assert any("terlalu besar" in b and "berkas-1.pdf" in b for b in fake_twilio.bodies())


async def test_quick_reply_button_text_is_the_answer(channel_client, channel_services):
    params = dict(inbound_params("Ya", "SM" + "9" * 32), ButtonText="Ya", ButtonPayload="yes", MessageType="button")
    await post_signed(channel_client, HOOK, params)
    [inbound] = await messages(channel_services, "whatsapp", "in")
    assert inbound.text == "Ya"


async def test_status_callbacks_update_the_outbound_message(channel_client, channel_services, fake_twilio):
    [mid] = await queue(channel_services, "whatsapp", USER, "Pengajuan Bapak/Ibu sudah kami terima.")
    sid = await eventually(lambda: sent_sid(channel_services, mid))
    assert sid.startswith("SM") and len(fake_twilio.created) == 1

    def status(value: str, **extra: str) -> dict[str, str]:
        return {"MessageSid": sid, "MessageStatus": value, "AccountSid": ACCOUNT_SID, "To": USER,
                "From": "whatsapp:+14155238886", "ApiVersion": "2010-04-01", "ChannelToAddress": PHONE, **extra}

    assert (await channel_client.post(STATUS, data=status("read"))).status == 403  # unsigned
    assert (await post_signed(channel_client, STATUS, status("delivered"))).status == 204
    assert (await message(channel_services, mid)).status == "delivered"
    await post_signed(channel_client, STATUS, status("read"))
    await post_signed(channel_client, STATUS, status("delivered"))  # late report does not go backwards
    assert (await message(channel_services, mid)).status == "read"
    await post_signed(channel_client, STATUS, status("failed", ErrorCode="63016"))
    row = await message(channel_services, mid)
    assert row.status == "undeliverable" and "63016" in row.error


async def test_undelivered_to_unreachable_number_blocks(channel_client, channel_services, fake_twilio):
    [mid] = await queue(channel_services, "whatsapp", USER, "Halo")
    sid = await eventually(lambda: sent_sid(channel_services, mid))
    params = {"MessageSid": sid, "MessageStatus": "undelivered", "ErrorCode": "63024", "AccountSid": ACCOUNT_SID}
    await post_signed(channel_client, STATUS, params)
    row = await message(channel_services, mid)
    assert row.status == "failed" and row.error.startswith("blocked")
    assert (await conversation(channel_services, "whatsapp", USER)).blocked


async def test_outbound_media_is_served_to_twilio_with_a_token(channel_client, channel_services):
    channel = channel_services.channels["whatsapp"]
    stored = await channel_services.files.put(JPEG, "jadwal.jpg")
    url = channel.media_url(stored.to_json())
    assert url.startswith(PUBLIC + "/whatsapp/media/")
    path = url[len(PUBLIC):]
    response = await channel_client.get(path)
    assert response.status == 200 and await response.read() == JPEG
    assert response.content_type == "image/jpeg"
    assert response.headers["Content-Disposition"] == 'inline; filename="jadwal.jpg"'
    assert (await channel_client.get(path[:-4] + "0000")).status == 404  # another file name: not signed
    sha, expires, token, name = path.split("/")[3:]
    forged = f"/whatsapp/media/{sha}/{int(expires) + 3600}/{token}/{name}"  # a later expiry: not signed
    assert (await channel_client.get(forged)).status == 404


async def test_outbound_media_links_expire(channel_client, channel_services):
    import time

    channel = channel_services.channels["whatsapp"]
    stored = (await channel_services.files.put(JPEG, "jadwal.jpg")).to_json()
    ttl = channel.config.media_url_minutes * 60
    fresh = channel.media_url(stored, now=time.time() - ttl + 30)[len(PUBLIC):]
    stale = channel.media_url(stored, now=time.time() - ttl - 1)[len(PUBLIC):]
    assert (await channel_client.get(fresh)).status == 200
    assert (await channel_client.get(stale)).status == 404


async def test_status_report_that_overtakes_the_outbox_is_applied(channel_client, channel_services):
    from storage.models import Message

    channel = channel_services.channels["whatsapp"]
    channel.status_retry_delays = (0.05, 0.05, 0.1)
    # "sending": created at Twilio, the outbox has not recorded the SID yet
    [mid] = await queue(channel_services, "whatsapp", "whatsapp:+6281299900001", "Halo", status="sending")
    sid = "SM" + "5" * 32
    params = {"MessageSid": sid, "MessageStatus": "delivered", "AccountSid": ACCOUNT_SID}
    assert (await post_signed(channel_client, STATUS, params)).status == 204
    async with channel_services.db.session() as session:  # the outbox records the SID a moment later
        row = await session.get(Message, mid)
        row.status, row.channel_message_id = "sent", sid
        await session.commit()
    await idle(channel_services)
    assert (await message(channel_services, mid)).status == "delivered"


async def test_sms_to_the_same_number_is_not_a_whatsapp_conversation(channel_client, channel_services, fake_twilio):
    params = dict(inbound_params("halo", "SM" + "6" * 32), From="+6281234567890", To="+14155238886")
    response = await post_signed(channel_client, HOOK, params)
    assert response.status == 200
    assert await messages(channel_services, "whatsapp") == [] and fake_twilio.created == []


async def test_status_listeners_receive_reports_for_other_sends(channel_client, channel_services):
    channel = channel_services.channels["whatsapp"]
    channel.status_retry_delays = (0.05,)
    seen: list[tuple[str, str, str]] = []

    async def listener(sid: str, status: str, code: str) -> bool:
        seen.append((sid, status, code))
        return sid == "SM" + "8" * 32

    channel.status_listeners.append(listener)
    params = {"MessageSid": "SM" + "8" * 32, "MessageStatus": "undelivered", "ErrorCode": "63024",
              "AccountSid": ACCOUNT_SID}
    assert (await post_signed(channel_client, STATUS, params)).status == 204
    await idle(channel_services)
    assert seen == [("SM" + "8" * 32, "undelivered", "63024")]  # matched: not retried
    other = dict(params, MessageSid="SM" + "4" * 32)
    await post_signed(channel_client, STATUS, other)
    await idle(channel_services)
    assert len(seen) == 2  # unknown to everybody and no send in flight: dropped
    await queue(channel_services, "whatsapp", "whatsapp:+6281299900002", "x", status="sending")
    await post_signed(channel_client, STATUS, other)
    await idle(channel_services)
    assert len(seen) == 4  # a send in flight: tried once more after the delay


OGG = b"OggS\x00\x02" + b"\x00" * 20 + b"OpusHead" + b"w" * 3000
VCARD = b"BEGIN:VCARD\r\nVERSION:3.0\r\nN:Hidayat;Rahmat;;;\r\nFN:Rahmat Hidayat\r\n" \
        b"TEL;type=CELL;waid=6281298765432:+62 812-9876-5432\r\nEND:VCARD\r\n"


async def test_voice_note_is_recognised_and_never_a_document(channel_client, channel_services, fake_twilio):
    url = fake_twilio.add_media("ME" + "5" * 32, "audio/ogg", OGG)
    params = inbound_params("", "SM" + "v" * 32, media=[(url, "audio/ogg")])
    params["MessageType"] = "audio"
    assert (await post_signed(channel_client, HOOK, params)).status == 200
    await idle(channel_services)
    [inbound] = await messages(channel_services, "whatsapp", "in")
    [attachment] = inbound.attachments
    assert attachment["kind"] == "voice" and attachment["filename"] == "pesan-suara-1.ogg"
    await wait_until(lambda: any("belum bisa mendengarkan pesan suara" in b for b in fake_twilio.bodies()))
    assert not any("berkasnya kami terima" in b for b in fake_twilio.bodies())


async def test_location_and_contact_card(channel_client, channel_services, fake_twilio):
    params = inbound_params("", "SM" + "l" * 32)
    params.update(MessageType="location", Latitude="-0.3051", Longitude="100.3692", Address="Jl. Sudirman",
                  Label="Kantor Kemenag")
    assert (await post_signed(channel_client, HOOK, params)).status == 200
    url = fake_twilio.add_media("ME" + "6" * 32, "text/vcard", VCARD)
    params = inbound_params("", "SM" + "c" * 32, media=[(url, "text/vcard")])
    params["MessageType"] = "contacts"
    assert (await post_signed(channel_client, HOOK, params)).status == 200
    await idle(channel_services)
    location, contact = await messages(channel_services, "whatsapp", "in")
    assert location.attachments == [{"kind": "location", "latitude": "-0.3051", "longitude": "100.3692",
                                     "label": "Kantor Kemenag"}]
    assert contact.attachments == [{"kind": "contact", "name": "Rahmat Hidayat", "phone": "+62 812-9876-5432"}]
    await wait_until(lambda: any("kartu kontak" in b for b in fake_twilio.bodies()))
