"""Web chat identity is the server's signed session cookie: a stranger cannot read or write another pilgrim's
conversation by naming its id, forging or altering a cookie, or reusing its message ids."""
from __future__ import annotations

import time
from typing import Any

from itsdangerous import TimestampSigner
from sqlalchemy import func, select

from bot.channels.webchat_session import COOKIE_NAME, SALT
from storage.models import Conversation, Message
from tests.conftest import WebChat, chat_cookies


async def _count(services: Any, *where: Any) -> int:
    async with services.db.session() as session:
        return int((await session.execute(select(func.count(Message.id)).where(*where))).scalar_one())


async def test_first_visit_issues_an_httponly_samesite_cookie(client: Any) -> None:
    response = await client.get("/webchat")
    assert response.status == 200
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    cookie = response.cookies[COOKIE_NAME]
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and cookie["path"] == "/webchat"
    # a message without any cookie starts its own session (and gets one)
    fresh = await client.session.post(client.make_url("/webchat/messages"), json={"text": "halo"},
                                      cookies={COOKIE_NAME: ""})
    assert fresh.status == 200 and COOKIE_NAME in fresh.cookies


async def test_stranger_cannot_read_or_write_someone_elses_conversation(client: Any, demo_services: Any) -> None:
    siti = WebChat(client, "web-siti-session")
    await siti.say("assalamualaikum, ambo nak cek porsi 0312345678")
    victim_texts = {m["text"] for m in await siti.poll()}

    # naming the victim's id in the query or the body is refused, not obeyed
    r = await client.get("/webchat/messages", params={"user_id": "web-siti-session", "after": "0"},
                         cookies=chat_cookies(client, "web-attacker"))
    assert r.status == 400
    r = await client.post("/webchat/messages", json={"user_id": "web-siti-session", "text": "5 Juni 1960"},
                          cookies=chat_cookies(client, "web-attacker"))
    assert r.status == 400 and "error" in await r.json()

    # a forged cookie (signed with another key) and an altered one are not accepted
    forged = TimestampSigner("guessed-key", salt=SALT).sign("web-siti-session").decode()
    genuine = chat_cookies(client, "web-siti-session")[COOKIE_NAME]
    tampered = genuine.replace("web-siti-session", "web-siti-sessioN")
    for value in (forged, tampered, "web-siti-session", genuine + "x"):
        r = await client.get("/webchat/messages", params={"after": "0"}, cookies={COOKIE_NAME: value})
        assert r.status == 200 and (await r.json())["messages"] == [], value
        r = await client.post("/webchat/messages", json={"text": "5 Juni 1960"}, cookies={COOKIE_NAME: value})
        assert r.status == 200
        assert not {m["text"] for m in (await r.json())["messages"]} & victim_texts
        assert r.cookies[COOKIE_NAME].value != genuine  # a new session of its own
    # the victim's conversation got none of those messages
    async with demo_services.db.session() as session:
        conversation = (await session.execute(select(Conversation).where(
            Conversation.channel_user_id == "web-siti-session"))).scalar_one()
    assert await _count(demo_services, Message.conversation_id == conversation.id, Message.direction == "in") == 1


async def test_retried_message_id_is_answered_once(client: Any, demo_services: Any) -> None:
    pilgrim = WebChat(client, "web-retry")
    first = await pilgrim.say("gmn cara cek porsi?", message_id="6f1c-0001")
    again = await pilgrim.say("gmn cara cek porsi?", message_id="6f1c-0001")  # the page retried
    assert first and [m["id"] for m in again] == [m["id"] for m in first]
    assert await _count(demo_services, Message.direction == "in") == 1
    # another session using the same message id is a different message, with its own replies
    stranger = WebChat(client, "web-stranger")
    theirs = await stranger.say("halo", message_id="6f1c-0001")
    assert theirs and not {m["id"] for m in theirs} & {m["id"] for m in first}
    assert await _count(demo_services, Message.direction == "in") == 2


async def test_over_long_text_gets_a_polite_answer_and_nothing_is_stored(client: Any, demo_services: Any,
                                                                          caplog: Any) -> None:
    text = "pak tolong bantu, ambo alah lamo menunggu " * 200  # ~8,600 characters, pasted
    r = await client.post("/webchat/messages", json={"text": text}, cookies=chat_cookies(client, "web-long"))
    assert r.status == 400
    body = await r.json()
    assert "terlalu panjang" in body["error"] and "4.096 karakter" in body["error"]
    assert await _count(demo_services) == 0
    refusals = [rec for rec in caplog.records if "request refused" in rec.getMessage()]
    assert len(refusals) == 1 and "pak tolong" not in refusals[0].getMessage()


async def test_body_over_the_upload_limit_is_refused_before_reading_it(make_settings: Any,
                                                                        aiohttp_client: Any) -> None:
    from bot.app import create_app
    from bot.services import build_services

    services = await build_services(make_settings({"dialogue": {"max_upload_bytes": 4096}}))
    try:
        client = await aiohttp_client(create_app(services))
        huge = {"text": "", "attachments": [{"filename": "ktp.jpg", "content_type": "image/jpeg",
                                            "data_base64": "A" * 200_000}]}
        r = await client.post("/webchat/messages", json=huge, cookies=chat_cookies(client, "web-big"))
        assert r.status == 413 and "terlalu besar" in (await r.json())["error"]
        assert await _count(services) == 0
    finally:
        await services.close()


async def test_max_text_chars_is_configurable(make_settings: Any, aiohttp_client: Any) -> None:
    from bot.app import create_app
    from bot.services import build_services

    services = await build_services(make_settings({"channels": {"webchat": {"max_text_chars": 20}}}))
    try:
        client = await aiohttp_client(create_app(services))
        cookies = chat_cookies(client, "web-short")
        assert (await client.post("/webchat/messages", json={"text": "halo"}, cookies=cookies)).status == 200
        r = await client.post("/webchat/messages", json={"text": "x" * 21}, cookies=cookies)
        assert r.status == 400 and "20 karakter" in (await r.json())["error"]
    finally:
        await services.close()


def test_a_remembered_cookie_still_expires_and_an_altered_one_is_never_remembered() -> None:
    from unittest import mock

    from aiohttp.test_utils import make_mocked_request

    from bot.channels.webchat_session import ChatSessions, sign_session

    def read(sessions: ChatSessions, value: str) -> str | None:
        request = make_mocked_request("POST", "/webchat/messages", headers={"Cookie": f"{COOKIE_NAME}={value}"})
        return sessions.read(request)

    sessions = ChatSessions("the-key", max_age_days=1)
    genuine = sign_session("the-key", "web-siti")
    assert read(sessions, genuine) == read(sessions, genuine) == "web-siti"  # verified once, then remembered
    # the signature's first character carries 6 bits of it (its last one has unused padding bits in base64,
    # so changing the last character may leave the signature's bytes unchanged)
    value, signature = genuine.rsplit(".", 1)
    flipped = f"{value}.{'B' if signature[0] == 'A' else 'A'}{signature[1:]}"
    for altered in (flipped, genuine + "x", sign_session("another-key", "web-siti")):
        assert read(sessions, altered) is None and read(sessions, altered) is None
    now = time.time()
    with mock.patch("time.time", return_value=now + 2 * 24 * 3600):  # past the session's max age
        assert read(sessions, genuine) is None
    with mock.patch("time.time", return_value=now - 3600):  # signed "in the future": refused like itsdangerous does
        assert read(ChatSessions("the-key", max_age_days=1), genuine) is None
