"""Property-based fuzzing (hypothesis) of the public surface: the web chat POST, the Telegram webhook, the
Twilio webhook and file uploads. Whatever arrives: no 5xx, a clear error for a malformed request, and nothing
stored half-way (every stored inbound message is processed and answered; a refused request stores nothing).

Example counts are modest (CI stays fast); the service and its database persist across the examples of
one test, as they would in production.
"""
from __future__ import annotations

import base64
import itertools
from typing import Any

from hypothesis import HealthCheck, given, settings, strategies as st
from sqlalchemy import func, select

from dialogues.documents import Inspection, inspect
from dialogues.schema import DocumentRules
from storage.models import Message
from tests.channels import fake_telegram as tg
from tests.channels.conftest import (  # noqa: F401 - fixtures
    TELEGRAM_SECRET, channel_client, channel_services, channel_settings, fake_telegram, fake_twilio,
)
from tests.channels.fake_twilio import inbound_params, signed
from tests.conftest import chat_cookies
from tests.security.hostile import javascript_pdf

FUZZ = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                        HealthCheck.too_slow])
PUBLIC = "https://haji.example.go.id"
_ids = itertools.count(1)

# pilgrims' words, typos, Minang, emoji, control characters, right-to-left marks, long runs
WORDS = st.sampled_from(["assalamualaikum", "cek porsi", "0312345678", "blm", "gmn", "ambo", "alah", "batal",
                         "ya", "tidak", "lewati", "selesai", "STOP", "5 juni 1960", "💚", "\u202e", "\x00", "'; --",
                         "<script>alert(1)</script>", "{name}", "%s", "\n", " " * 50])
TEXT = st.one_of(st.text(max_size=300), st.lists(WORDS, max_size=30).map(" ".join),
                 st.text(alphabet="ab ", min_size=4000, max_size=6000))
MAGIC = st.sampled_from([b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", b"%PDF-1.4\n", b"RIFF\x00\x00\x00\x00WEBP",
                         b"GIF89a", b"PK\x03\x04", b"<html>"])
FILE_BYTES = st.one_of(st.tuples(MAGIC, st.binary(max_size=2000)).map(lambda t: t[0] + t[1]),
                       st.just(javascript_pdf()))
CONTENT_TYPES = st.sampled_from(["image/jpeg", "image/png", "image/webp", "image/heic", "application/pdf",
                                 "text/html", "", "application/octet-stream", "image/svg+xml"])


async def inbound_counts(services: Any, channel: str) -> dict[str, int]:
    async with services.db.session() as s:
        rows = (await s.execute(select(Message.status, func.count()).where(
            Message.channel == channel, Message.direction == "in").group_by(Message.status))).all()
    return {status: count for status, count in rows}


def assert_all_processed(counts: dict[str, int]) -> None:
    assert set(counts) <= {"processed"}, counts  # nothing left half-way ('received') or failed


# web chat -----------------------------------------------------------------------------------------
attachment = st.fixed_dictionaries({
    "filename": st.text(max_size=60), "content_type": CONTENT_TYPES,
    "data_base64": st.one_of(FILE_BYTES.map(lambda b: base64.b64encode(b).decode()), st.text(max_size=40))})
webchat_body = st.one_of(
    st.fixed_dictionaries({"text": st.one_of(TEXT, st.integers(), st.none())},
                          optional={"user_id": st.one_of(st.text(max_size=20), st.integers()),  # refused: the cookie decides
                                    "attachments": st.one_of(st.lists(attachment, max_size=3), st.text(max_size=5)),
                                    "message_id": st.one_of(st.text(max_size=140), st.integers())}),
    st.lists(st.integers(), max_size=3), st.text(max_size=20), st.none())


@FUZZ
@given(body=webchat_body)
async def test_fuzz_web_chat_post(client: Any, demo_services: Any, body: Any) -> None:
    before = await inbound_counts(demo_services, "webchat")
    r = await client.post("/webchat/messages", json=body, cookies=chat_cookies(client, f"fuzz-{next(_ids)}"))
    assert r.status < 500, await r.text()
    payload = await r.json()
    after = await inbound_counts(demo_services, "webchat")
    if r.status == 200:
        assert isinstance(payload["messages"], list)
        assert payload["messages"] or payload["duplicate"]
        assert_all_processed(after)
    else:
        assert r.status in (400, 413) and isinstance(payload.get("error"), str) and payload["error"]
        assert after == before  # refused: nothing stored


@FUZZ
@given(raw=st.binary(max_size=400))
async def test_fuzz_web_chat_raw_bytes(client: Any, demo_services: Any, raw: bytes) -> None:
    r = await client.post("/webchat/messages", data=raw, headers={"Content-Type": "application/json"},
                          cookies=chat_cookies(client, f"fuzz-raw-{next(_ids)}"))
    assert r.status < 500
    if r.status != 200:
        assert (await r.json()).get("error")
    assert_all_processed(await inbound_counts(demo_services, "webchat"))


@FUZZ
@given(files=st.lists(st.tuples(FILE_BYTES, CONTENT_TYPES), min_size=1, max_size=3), text=st.one_of(st.just(""), TEXT))
async def test_fuzz_file_uploads(client: Any, demo_services: Any, files: list[tuple[bytes, str]], text: str) -> None:
    body = {"text": text, "attachments": [
        {"filename": f"berkas-{i}", "content_type": ct, "data_base64": base64.b64encode(data).decode()}
        for i, (data, ct) in enumerate(files)]}
    r = await client.post("/webchat/messages", json=body, cookies=chat_cookies(client, f"pengunggah-{next(_ids)}"))
    assert r.status < 500, await r.text()
    if r.status == 200:
        assert (await r.json())["messages"]
    assert_all_processed(await inbound_counts(demo_services, "webchat"))


RULES = DocumentRules(accepted_types=["image/jpeg", "image/png", "image/webp", "application/pdf"],
                      min_image_width=600, min_image_height=400, min_sharpness=50, max_pdf_pages=30,
                      max_image_pixels=50_000_000, form_labels={})


@settings(max_examples=200, deadline=None)
@given(data=FILE_BYTES, content_type=CONTENT_TYPES)
def test_fuzz_document_checks_never_raise(data: bytes, content_type: str) -> None:
    result = inspect(data, content_type, RULES, 10 * 1024 * 1024)
    assert isinstance(result, Inspection) and (result.ok or result.problem)


# Telegram -----------------------------------------------------------------------------------------
tg_fields = st.fixed_dictionaries({}, optional={
    "text": TEXT, "caption": st.text(max_size=200),
    "contact": st.fixed_dictionaries({"phone_number": st.text(max_size=20), "first_name": st.text(max_size=10)}),
    "document": st.fixed_dictionaries({"file_id": st.just("doc-fuzz"), "file_unique_id": st.just("u"),
                                       "file_size": st.integers(-5, 30_000_000), "file_name": st.text(max_size=30),
                                       "mime_type": CONTENT_TYPES}),
})
tg_update = st.one_of(
    st.tuples(st.integers(1, 2**31), st.integers(-(2**40), 2**40), tg_fields).map(
        lambda t: tg.message_update(t[0], t[1] or 1, **t[2])),
    st.dictionaries(st.sampled_from(["update_id", "message", "edited_message", "callback_query", "x"]),
                    st.one_of(st.integers(), st.text(max_size=10), st.dictionaries(st.text(max_size=5),
                                                                                   st.integers(), max_size=3)),
                    max_size=4),
)


@FUZZ
@given(update=tg_update)
async def test_fuzz_telegram_webhook(channel_client: Any, channel_services: Any, fake_telegram: Any,
                                     update: dict[str, Any]) -> None:
    fake_telegram.add_file("doc-fuzz", b"%PDF-1.4 not really", "documents/file.pdf")
    r = await channel_client.post("/telegram/webhook", json=update,
                                  headers={"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET})
    assert r.status < 500, await r.text()
    await channel_services.channels["telegram"].wait_idle()
    assert_all_processed(await inbound_counts(channel_services, "telegram"))


# Twilio (WhatsApp) --------------------------------------------------------------------------------
twilio_extra = st.dictionaries(
    st.sampled_from(["NumMedia", "MediaUrl0", "MediaContentType0", "ButtonText", "ProfileName", "From", "Body"]),
    st.one_of(st.text(max_size=30), st.sampled_from(["1", "99", "-1", "abc", "whatsapp:+62", "http://127.0.0.1:1/x"])),
    max_size=4)


@FUZZ
@given(body=TEXT, extra=twilio_extra)
async def test_fuzz_twilio_webhook(channel_client: Any, channel_services: Any, body: str,
                                   extra: dict[str, str]) -> None:
    params = {**inbound_params(body, f"SM{next(_ids):032d}"), **extra}
    params = {k: v.replace("\x00", "") for k, v in params.items()}  # a form field cannot carry NUL through Twilio
    r = await channel_client.post("/whatsapp/webhook", data=params, headers=signed(PUBLIC + "/whatsapp/webhook", params))
    assert r.status < 500, await r.text()
    await channel_services.channels["whatsapp"].wait_idle()
    assert_all_processed(await inbound_counts(channel_services, "whatsapp"))
