"""End to end on each channel: a pilgrim's heir cancels a deceased pilgrim's porsi, uploading the documents
as Telegram photos/documents and as WhatsApp media; the case is created with the documents. Real pipeline,
built-in NLU, real flows, the outbox running, python-telegram-bot and twilio against the fakes."""
from __future__ import annotations

import io
import itertools
import re
from datetime import datetime, timezone
from typing import Any

from pypdf import PdfReader
from sqlalchemy import select

from storage.models import Case, CaseDocument, Conversation, Message
from tests.channels import fake_telegram as tg
from tests.channels.conftest import TELEGRAM_SECRET, eventually
from tests.channels.fake_twilio import inbound_params, signed
from tests.dialogues.conftest import make_pdf, make_photo

YEAR = datetime.now(timezone.utc).year
_ids = itertools.count(1)


async def _all_sent(services: Any, channel: str, user_id: str) -> bool:
    async with services.db.session() as session:
        conv = (await session.execute(select(Conversation).where(
            Conversation.channel == channel, Conversation.channel_user_id == user_id))).scalar_one_or_none()
        if conv is None:
            return False
        statuses = (await session.execute(select(Message.status).where(
            Message.conversation_id == conv.id, Message.direction == "out"))).scalars().all()
    return all(s not in ("pending", "sending") for s in statuses)


class TelegramPilgrim:
    """Writes to the bot like a Telegram user: updates posted to the webhook, replies read from the fake."""

    def __init__(self, client: Any, services: Any, fake: tg.FakeTelegram, chat_id: int = 81000001) -> None:
        self.client, self.services, self.fake, self.chat_id = client, services, fake, chat_id

    async def _post(self, update: dict[str, Any]) -> str:
        mark = len(self.fake.sent())
        response = await self.client.post("/telegram/webhook", json=update,
                                          headers={"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET})
        assert response.status == 200
        await self.services.channels["telegram"].wait_idle()
        await eventually(lambda: _all_sent(self.services, "telegram", str(self.chat_id)))
        return "\n".join(c.params.get("text", "") for c in self.fake.sent()[mark:])

    def _update_id(self) -> int:
        return 700000 + next(_ids)

    async def say(self, text: str) -> str:
        return await self._post(tg.text_update(self._update_id(), self.chat_id, text))

    async def press(self, label_part: str) -> str:
        """Press the button (of the latest keyboard) whose label contains `label_part`."""
        sent = next(c for c in reversed(self.fake.sent("sendMessage")) if "reply_markup" in c.params)
        labels = [row[0]["text"] for row in sent.params["reply_markup"]["inline_keyboard"]]
        index = next(i for i, label in enumerate(labels, 1) if label_part.lower() in label.lower())
        return await self._post(tg.callback_update(self._update_id(), self.chat_id, str(index), labels,
                                                   message_id=sent.result["message_id"]))

    async def photo(self, data: bytes) -> str:
        update_id = self._update_id()
        file_id = f"AgAC{update_id}"
        self.fake.add_file(file_id, data, f"photos/file_{update_id}.jpg")
        return await self._post(tg.photo_update(update_id, self.chat_id, file_id, len(data)))

    async def document(self, data: bytes, name: str) -> str:
        update_id = self._update_id()
        file_id = f"BQAC{update_id}"
        self.fake.add_file(file_id, data, f"documents/file_{update_id}.pdf")
        return await self._post(tg.document_update(update_id, self.chat_id, file_id, len(data), name))


class WhatsAppPilgrim:
    """Writes like a WhatsApp user through Twilio: signed form posts, replies read from the fake API."""

    URL = "https://haji.example.go.id/whatsapp/webhook"

    def __init__(self, client: Any, services: Any, fake: Any, phone: str = "+6281277700001") -> None:
        self.client, self.services, self.fake, self.phone = client, services, fake, phone

    async def _post(self, params: dict[str, str]) -> str:
        mark = len(self.fake.created)
        response = await self.client.post("/whatsapp/webhook", data=params, headers=signed(self.URL, params))
        assert response.status == 200
        await self.services.channels["whatsapp"].wait_idle()
        await eventually(lambda: _all_sent(self.services, "whatsapp", f"whatsapp:{self.phone}"))
        return "\n".join(c.one("Body") or "" for c in self.fake.created[mark:])

    def _sid(self) -> str:
        return f"SM{next(_ids):032x}"

    async def say(self, text: str) -> str:
        return await self._post(inbound_params(text, self._sid(), phone=self.phone))

    async def reply_number(self, label_part: str) -> str:
        """Answer the latest numbered list with the number of the option containing `label_part`."""
        body = next(b for b in reversed(self.fake.bodies()) if "Balas 1" in b)
        number = next(m.group(1) for m in re.finditer(r"^(\d+)\. (.+)$", body, re.M)
                      if label_part.lower() in m.group(2).lower())
        return await self.say(number)

    async def media(self, data: bytes, content_type: str = "image/jpeg", caption: str = "") -> str:
        url = self.fake.add_media(f"ME{next(_ids):032x}", content_type, data)
        return await self._post(inbound_params(caption, self._sid(), phone=self.phone, media=[(url, content_type)]))


async def start_deceased_cancellation(pilgrim: Any, choose_deceased: Any) -> str:
    await pilgrim.say("saya mau membatalkan porsi")
    out = await choose_deceased()  # from the buttons / the numbered list of that question
    assert "pelimpahan" in out.lower()
    out = await pilgrim.say("tidak, tetap batal")
    assert "nomor porsi" in out.lower()
    out = await pilgrim.say("porsi 0312345678 lahir 5 Juni 1960")
    assert "wafat" in out
    await pilgrim.say("tgl 14 agst 25")
    await pilgrim.say("Ahmad Syukri")
    await pilgrim.say("anak kandung")
    await pilgrim.say("Bank Syariah Indonesia")
    await pilgrim.say("Ahmad Syukri")
    out = await pilgrim.say("7123-4567-89")
    assert "Dokumen 1 dari 13" in out
    return out


async def send_documents(pilgrim: Any, upload: Any, out: str) -> str:
    """Answer every checklist item: skip optional ones, upload one photo for the others."""
    for i in range(20):
        if not re.search(r"Dokumen \d+ dari", out):
            return out
        if 'ketik "lewati"' in out:
            out = await pilgrim.say("lewati")
            continue
        reply = await upload(make_photo(seed=200 + i))
        assert "Diterima" in reply, reply
        out = await pilgrim.say("selesai")
    return out


async def assert_case_created(services: Any, channel: str) -> None:
    async with services.db.session() as session:
        [case] = (await session.execute(select(Case))).scalars().all()
        docs = (await session.execute(select(CaseDocument).where(CaseDocument.case_id == case.id))).scalars().all()
        conv = await session.get(Conversation, case.conversation_id)
    assert case.ticket == f"PBT-{YEAR}-00001" and case.service == "pembatalan" and case.variant == "meninggal"
    assert case.nomor_porsi == "0312345678" and case.status == "submitted"
    assert conv is not None and conv.channel == channel
    docs = [d for d in docs if d.status != "generated"]  # the ready-to-sign letters: see assert_letters_sent
    assert len(docs) == 12
    pdf = next(d for d in docs if d.content_type == "application/pdf")
    assert pdf.item_key == "surat_permohonan" and pdf.page_count == 2
    assert all(services.files.path_for(d.sha256).exists() for d in docs)


def letter_text(data: bytes) -> str:
    return " ".join("\n".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages).split())


def assert_letters(documents: list[tuple[str, bytes]], phone: str | None = None) -> None:
    """The surat permohonan and the heir's SPTJM as the pilgrim's phone received them."""
    ticket = f"PBT-{YEAR}-00001"
    assert [name for name, _ in documents] == [f"surat-permohonan-{ticket}.pdf", f"sptjm-{ticket}.pdf"]
    for _, data in documents:
        text = letter_text(data)
        assert "SITI AMINAH" in text and "0312345678" in text and "Ahmad Syukri" in text
        if phone:
            assert f"Nomor HP : {phone}" in text


async def test_pembatalan_with_photo_uploads_on_telegram(channel_client, channel_services, fake_telegram):
    pilgrim = TelegramPilgrim(channel_client, channel_services, fake_telegram)
    out = await start_deceased_cancellation(pilgrim, lambda: pilgrim.press("meninggal"))
    assert [c.method for c in fake_telegram.calls].count("answerCallbackQuery") == 1
    out = await pilgrim.document(make_pdf(2), "permohonan.pdf")
    assert "Diterima" in out
    out = await pilgrim.photo(make_photo(seed=3))
    assert "2 berkas" in out
    out = await pilgrim.say("selesai")
    out = await send_documents(pilgrim, pilgrim.photo, out)
    assert "Ringkasan pengajuan pembatalan" in out and "14 Agustus 2025" in out
    mark = len(fake_telegram.sent())
    out = await pilgrim.say("ya benar")
    assert f"PBT-{YEAR}-00001" in out and "meterai Rp10.000" in out
    await assert_case_created(channel_services, "telegram")
    sent = fake_telegram.sent()[mark:]
    assert [c.method for c in sent] == ["sendMessage", "sendDocument", "sendDocument", "sendMessage"]
    assert_letters([c.files["document"] for c in sent if c.method == "sendDocument"])


async def test_pembatalan_with_photo_uploads_on_whatsapp(channel_client, channel_services, fake_twilio):
    pilgrim = WhatsAppPilgrim(channel_client, channel_services, fake_twilio)
    out = await start_deceased_cancellation(pilgrim, lambda: pilgrim.reply_number("meninggal"))
    out = await pilgrim.media(make_pdf(2), "application/pdf")
    assert "Diterima" in out
    out = await pilgrim.media(make_photo(seed=3))
    assert "2 berkas" in out
    out = await pilgrim.say("selesai")
    out = await send_documents(pilgrim, pilgrim.media, out)
    assert "Ringkasan pengajuan pembatalan" in out and "14 Agustus 2025" in out
    mark = len(fake_twilio.created)
    out = await pilgrim.say("ya benar")
    assert f"PBT-{YEAR}-00001" in out and "meterai Rp10.000" in out
    await assert_case_created(channel_services, "whatsapp")
    assert len(fake_twilio.media_requests) == 12  # every upload fetched once, with basic auth
    # the letters go as media: Twilio fetches them from our signed, expiring links
    urls = [url for c in fake_twilio.created[mark:] for url in c.params.get("MediaUrl", [])]
    documents = []
    for url in urls:
        assert url.startswith(WhatsAppPilgrim.URL.removesuffix("/whatsapp/webhook") + "/whatsapp/media/")
        response = await channel_client.get(url.split("example.go.id", 1)[1])
        assert response.status == 200 and response.content_type == "application/pdf"
        name = url.rsplit("/", 1)[1]
        assert response.headers["Content-Disposition"] == f'inline; filename="{name}"'
        documents.append((name, await response.read()))
    assert_letters(documents, phone=pilgrim.phone)


async def test_menu_numbers_are_understood_on_whatsapp(channel_client, channel_services, fake_twilio):
    pilgrim = WhatsAppPilgrim(channel_client, channel_services, fake_twilio, phone="+6281277700002")
    out = await pilgrim.say("menu")
    assert "Balas 1, 2" in out
    out = await pilgrim.reply_number("cek")
    assert "nomor porsi" in out.lower()
