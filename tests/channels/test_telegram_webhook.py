"""Telegram inbound through the real python-telegram-bot against the fake Bot API: webhook security,
store-then-ack, deduplication, text/photo/document/contact/deep link/callback updates, over-size files."""
from __future__ import annotations

import asyncio
from typing import Any

from tests.channels import fake_telegram as tg
from tests.channels.conftest import TELEGRAM_SECRET, wait_until
from tests.channels.helpers import messages

HOOK = "/telegram/webhook"
CHAT = 555000111
JPEG = b"\xff\xd8\xff\xe0" + b"\x00\x10JFIF" + b"x" * 5000
PDF = b"%PDF-1.4\n" + b"y" * 3000 + b"\n%%EOF\n"


async def post(client: Any, update: dict[str, Any], secret: str | None = TELEGRAM_SECRET) -> Any:
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
    return await client.post(HOOK, json=update, headers=headers)


async def idle(services: Any) -> None:
    await services.channels["telegram"].wait_idle()


async def test_text_message_is_stored_acknowledged_and_answered(channel_client, channel_services, fake_telegram):
    response = await post(channel_client, tg.text_update(1001, CHAT, "assalamualaikum"))
    assert response.status == 200
    inbound = await messages(channel_services, "telegram", "in")
    assert [(m.text, m.channel_message_id) for m in inbound] == [("assalamualaikum", "1001")]
    await wait_until(lambda: len(fake_telegram.sent()) >= 1)
    call = fake_telegram.sent()[0]
    assert int(call.params["chat_id"]) == CHAT and call.params["text"]


async def test_choices_render_as_inline_keyboard(channel_client, channel_services, fake_telegram):
    await post(channel_client, tg.text_update(1002, CHAT, "menu"))
    await wait_until(lambda: any("reply_markup" in c.params for c in fake_telegram.sent()))
    markup = next(c.params["reply_markup"] for c in fake_telegram.sent() if "reply_markup" in c.params)
    rows = markup["inline_keyboard"]
    assert len(rows) >= 2 and all(len(row) == 1 for row in rows)
    assert [row[0]["callback_data"] for row in rows] == [str(i) for i in range(1, len(rows) + 1)]


async def test_wrong_or_missing_secret_is_refused(channel_client, channel_services):
    assert (await post(channel_client, tg.text_update(1003, CHAT, "halo"), secret="nope")).status == 403
    assert (await post(channel_client, tg.text_update(1004, CHAT, "halo"), secret=None)).status == 403
    assert await messages(channel_services, "telegram") == []


async def test_garbage_body_is_a_bad_request(channel_client):
    for body in (b"{not json", b"[1, 2]", b'{"message": {"text": "no update_id"}}', b'"text"'):
        response = await channel_client.post(HOOK, data=body, headers={
            "X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET})
        assert response.status == 400, body


async def test_redelivered_update_is_processed_once(channel_client, channel_services, fake_telegram):
    update = tg.text_update(1005, CHAT, "halo")
    assert (await post(channel_client, update)).status == 200
    await idle(channel_services)
    replies = len(await messages(channel_services, "telegram", "out"))
    assert replies >= 1
    await wait_until(lambda: len(fake_telegram.sent()) == replies)
    assert (await post(channel_client, update)).status == 200
    await idle(channel_services)
    assert len(await messages(channel_services, "telegram", "in")) == 1
    assert len(await messages(channel_services, "telegram", "out")) == replies
    await asyncio.sleep(0.2)
    assert len(fake_telegram.sent()) == replies


async def test_photo_takes_largest_size_and_caption(channel_client, channel_services, fake_telegram):
    fake_telegram.add_file("AgACphoto", JPEG, "photos/file_7.jpg")
    response = await post(channel_client, tg.photo_update(1006, CHAT, "AgACphoto", len(JPEG), caption="foto KTP"))
    assert response.status == 200
    assert [c.params["file_id"] for c in fake_telegram.calls if c.method == "getFile"] == ["AgACphoto"]
    [inbound] = await messages(channel_services, "telegram", "in")
    assert inbound.text == "foto KTP"
    [attachment] = inbound.attachments
    assert attachment["size"] == len(JPEG) and attachment["content_type"] == "image/jpeg"
    assert await channel_services.files.read(attachment["sha256"]) == JPEG


async def test_document_pdf_is_downloaded(channel_client, channel_services, fake_telegram):
    fake_telegram.add_file("BQACdoc", PDF, "documents/file_9.pdf")
    await post(channel_client, tg.document_update(1007, CHAT, "BQACdoc", len(PDF), "surat_kematian.pdf"))
    [inbound] = await messages(channel_services, "telegram", "in")
    [attachment] = inbound.attachments
    assert attachment["filename"] == "surat_kematian.pdf"
    assert attachment["content_type"] == "application/pdf"


async def test_oversize_document_is_not_downloaded_and_user_is_told(channel_client, channel_services,
                                                                    fake_telegram):
    limit = channel_services.settings.config.dialogue.max_upload_bytes
    await post(channel_client, tg.document_update(1008, CHAT, "BQACbig", limit + 1, "scan_besar.pdf"))
    await idle(channel_services)
    assert not [c for c in fake_telegram.calls if c.method == "getFile"]
    assert any("terlalu besar" in t and "scan_besar.pdf" in t for t in fake_telegram.texts())
    assert await messages(channel_services, "telegram", "in") == []


async def test_oversize_file_with_caption_keeps_the_caption(channel_client, channel_services, fake_telegram):
    limit = channel_services.settings.config.dialogue.max_upload_bytes
    await post(channel_client, tg.document_update(1009, CHAT, "BQACbig", limit + 1, "besar.pdf",
                                                  caption="ini suratnya"))
    [inbound] = await messages(channel_services, "telegram", "in")
    assert inbound.text == "ini suratnya" and inbound.attachments == []


async def test_contact_share_is_kept_as_a_contact_card(channel_client, channel_services, fake_telegram):
    await post(channel_client, tg.contact_update(1010, CHAT, "6281234567890", "Rahmat", "Hidayat"))
    await idle(channel_services)
    [inbound] = await messages(channel_services, "telegram", "in")
    assert inbound.text == ""
    assert inbound.attachments == [{"kind": "contact", "name": "Rahmat Hidayat", "phone": "+6281234567890"}]
    await wait_until(lambda: any("kartu kontak" in t for t in fake_telegram.texts()))


async def test_start_and_deep_link(channel_client, channel_services):
    await post(channel_client, tg.text_update(1011, CHAT, "/start"))
    await post(channel_client, tg.text_update(1012, CHAT, "/start cek_porsi"))
    texts = [m.text for m in await messages(channel_services, "telegram", "in")]
    assert texts == ["halo", "cek porsi"]


async def test_callback_query_is_answered_and_continues_as_label(channel_client, channel_services, fake_telegram):
    update = tg.callback_update(1013, CHAT, "2", ["Cek nomor porsi & estimasi", "Pembatalan porsi"])
    assert (await post(channel_client, update)).status == 200
    await idle(channel_services)
    answers = [c for c in fake_telegram.calls if c.method == "answerCallbackQuery"]
    assert [a.params["callback_query_id"] for a in answers] == ["cbq-1013"]
    [edit] = [c for c in fake_telegram.calls if c.method == "editMessageReplyMarkup"]
    assert edit.params["message_id"] == "4242" and "reply_markup" not in edit.params  # keyboard removed
    [inbound] = await messages(channel_services, "telegram", "in")
    assert inbound.text == "Pembatalan porsi" and inbound.channel_message_id == "1013"


async def test_unsupported_message_gets_a_notice(channel_client, channel_services, fake_telegram):
    update = tg.message_update(1014, CHAT, dice={"emoji": "🎲", "value": 3})  # stickers are recognised now
    assert (await post(channel_client, update)).status == 200
    await idle(channel_services)
    assert any("belum dapat kami proses" in t for t in fake_telegram.texts())


async def test_group_messages_are_ignored(channel_client, channel_services):
    update = tg.text_update(1015, CHAT, "halo")
    update["message"]["chat"] = {"id": -100123, "type": "supergroup", "title": "Jamaah"}
    assert (await post(channel_client, update)).status == 200
    assert await messages(channel_services, "telegram") == []


async def test_download_failure_asks_telegram_to_redeliver(channel_client, channel_services, fake_telegram):
    fake_telegram.add_file("AgACflaky", JPEG, "photos/flaky.jpg")
    fake_telegram.fail_next("getFile", 502, "Bad Gateway")
    update = tg.photo_update(1016, CHAT, "AgACflaky", len(JPEG))
    assert (await post(channel_client, update)).status == 503
    assert await messages(channel_services, "telegram") == []
    assert (await post(channel_client, update)).status == 200  # Telegram's redelivery
    assert len(await messages(channel_services, "telegram", "in")) == 1


OGG = b"OggS\x00\x02" + b"\x00" * 20 + b"OpusHead" + b"v" * 3000
WEBP = b"RIFF\x00\x10\x00\x00WEBPVP8 " + b"s" * 2000


async def test_voice_note_is_recognised_kept_and_answered(channel_client, channel_services, fake_telegram):
    fake_telegram.add_file("AwACvoice", OGG, "voice/file_3.oga")
    await post(channel_client, tg.voice_update(1020, CHAT, "AwACvoice", len(OGG)))
    await idle(channel_services)
    [inbound] = await messages(channel_services, "telegram", "in")
    [attachment] = inbound.attachments
    assert attachment["kind"] == "voice" and attachment["content_type"] == "audio/ogg"
    assert await channel_services.files.read(attachment["sha256"]) == OGG
    await wait_until(lambda: any("belum bisa mendengarkan pesan suara" in t for t in fake_telegram.texts()))
    assert not any("berkasnya kami terima" in t for t in fake_telegram.texts())


async def test_audio_file_sticker_and_location(channel_client, channel_services, fake_telegram):
    fake_telegram.add_file("CQACaudio", b"ID3\x04" + b"a" * 4000, "music/file_1.mp3")
    fake_telegram.add_file("CAACstick", WEBP, "stickers/file_2.webp")
    await post(channel_client, tg.audio_update(1021, CHAT, "CQACaudio", 4004))
    await post(channel_client, tg.sticker_update(1022, CHAT, "CAACstick", len(WEBP)))
    await post(channel_client, tg.location_update(1023, CHAT, -0.3051, 100.3692, venue="Jam Gadang"))
    await idle(channel_services)
    audio, sticker, location = await messages(channel_services, "telegram", "in")
    assert audio.attachments[0]["kind"] == "audio" and audio.attachments[0]["content_type"] == "audio/mpeg"
    assert sticker.attachments[0]["kind"] == "sticker"
    assert location.attachments == [{"kind": "location", "latitude": "-0.305100", "longitude": "100.369200",
                                     "label": "Jam Gadang"}]
    await wait_until(lambda: any("lokasi yang Bapak/Ibu kirim" in t for t in fake_telegram.texts()))
    assert any("Silakan ketik keperluan" in t for t in fake_telegram.texts())
