"""Lock-out by strangers, as an attacker would try it, and the failure budgets that replace the lock: the
budget belongs to the requester (conversation, channel user, client address), never to the porsi number."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import make_mocked_request

from bot.core.requester import RequesterKeys
from dialogues.throttle import GLOBAL_CEILING, Requester, record_attempt
from tests.channels.conftest import (channel_client, channel_services, channel_settings,  # noqa: F401 - fixtures
                                     fake_telegram, fake_twilio)
from tests.conftest import WebChat
from tests.dialogues.conftest import NOW, Chat, db, engine, store  # noqa: F401 - fixtures

CHECK = {"intent": {"name": "check_porsi", "confidence": 0.95}}
SITI = "cek porsi 0312345678 lahir 3 Mei 1960"  # the real pilgrim (test registry)


async def fail(chat: Chat, day: int, now: Any = NOW, porsi: str = "0312345678") -> str:
    out = await chat.say(f"cek porsi {porsi} lahir {day} Januari 1970", parse=CHECK, now=now)
    if "dibantu petugas" in out:
        await chat.say("tidak", now=now)
    return out


async def test_stranger_cannot_lock_the_pilgrim_out(db, engine, store) -> None:  # noqa: F811
    """The old behaviour: 5 wrong birth dates from anyone locked the porsi for an hour."""
    attacker = Chat(db, engine, store, user="attacker")
    for day in range(1, 6):
        out = await fail(attacker, day)
    assert "coba lagi dalam 5 menit" in out
    out = await Chat(db, engine, store, user="siti").say(SITI, parse=CHECK)
    assert "SITI A***" in out


async def test_many_strangers_on_one_porsi_only_slow_themselves(db, engine, store) -> None:  # noqa: F811
    """Guessing spread over 12 chats: the porsi gets a cooldown for those who failed on it, never a lock."""
    for i in range(12):
        out = await fail(Chat(db, engine, store, user=f"bot{i}"), i + 1)
        assert "data tidak cocok" in out
    # each guesser that already failed on it now waits before its next try on this porsi
    out = await fail(Chat(db, engine, store, user="bot3"), 20, now=NOW + timedelta(minutes=1))
    assert "coba lagi dalam" in out and "data tidak cocok" not in out
    # the pilgrim, with no failures of her own, is not held up
    out = await Chat(db, engine, store, user="siti").say(SITI, parse=CHECK, now=NOW + timedelta(minutes=1))
    assert "SITI A***" in out
    # after the cooldown a guesser may try again (slowed, not locked out for good)
    out = await fail(Chat(db, engine, store, user="bot3"), 21, now=NOW + timedelta(minutes=11))
    assert "data tidak cocok" in out


async def test_pilgrim_who_mistyped_once_waits_minutes_not_hours(db, engine, store) -> None:  # noqa: F811
    for i in range(12):
        await fail(Chat(db, engine, store, user=f"bot{i}"), i + 1)
    siti = Chat(db, engine, store, user="siti")
    out = await fail(siti, 25)  # her own typo while the porsi is under attack
    assert "data tidak cocok" in out
    out = await siti.say(SITI, parse=CHECK, now=NOW + timedelta(minutes=1))
    assert "coba lagi dalam 10 menit" in out or "coba lagi dalam 9 menit" in out
    out = await siti.say(SITI, parse=CHECK, now=NOW + timedelta(minutes=11))
    assert "SITI A***" in out


async def test_global_ceiling_slows_failing_requesters_not_clean_ones(db, engine, store) -> None:  # noqa: F811
    async with db.session() as s, s.begin():  # a spread-out attack: many failures in the last hour
        first = Chat(db, engine, store, user="spread")
        await first.say("halo")
        conv = await first.conversation()
        for i in range(GLOBAL_CEILING):
            record_attempt(s, NOW - timedelta(minutes=30), Requester(conv.id, f"ip:{i}"), f"03{i:08d}", False)
    clean = Chat(db, engine, store, user="siti")
    assert "SITI A***" in await clean.say(SITI, parse=CHECK)
    once = Chat(db, engine, store, user="typo")
    out = await fail(once, 1, porsi="0312345679")
    assert "data tidak cocok" in out
    out = await once.say("cek porsi 0312345679 lahir 1 Januari 1955", parse=CHECK, now=NOW + timedelta(minutes=2))
    assert "coba lagi dalam" in out
    out = await once.say("cek porsi 0312345679 lahir 1 Januari 1955", parse=CHECK, now=NOW + timedelta(minutes=11))
    assert "AHMAD F***" in out


# ------------------------------------------------------------------ web chat: the client address budget

@pytest.fixture
async def proxied(make_settings: Any, aiohttp_client: Any) -> Any:
    """The full app behind a reverse proxy at 127.0.0.1 (the test client's address), demo registry."""
    from bot.app import create_app
    from bot.services import build_services
    from storage.demo import seed_demo

    services = await build_services(make_settings({"security": {"trusted_proxies": ["127.0.0.1/32"]}}))
    async with services.db.session() as session:
        await seed_demo(session)
    try:
        yield await aiohttp_client(create_app(services))
    finally:
        await services.close()


class FromAddress(WebChat):
    """A browser at `address` (as the trusted proxy reports it). `user_id=None`: a client that throws its
    session cookie away, so every message starts a fresh web-chat session."""

    def __init__(self, client: Any, user_id: str | None, address: str) -> None:
        super().__init__(client, user_id or "unused")
        self.fresh = user_id is None
        if self.fresh:
            self.cookies = {}
        self.address = address

    async def say_text(self, text: str = "", **_: Any) -> str:
        if self.fresh:
            self.client.session.cookie_jar.clear()  # the test client keeps cookies like a browser would
        response = await self.client.post("/webchat/messages", json={"text": text}, cookies=self.cookies,
                                          headers={"X-Forwarded-For": self.address})
        assert response.status == 200, await response.text()
        return "\n".join(m["text"] for m in (await response.json())["messages"])


async def test_fresh_web_chat_sessions_from_one_address_run_out(proxied: Any) -> None:
    """An attacker inventing a new user_id per guess: the client address budget stops it; a pilgrim on
    another address is unaffected."""
    for i in range(20):
        out = await FromAddress(proxied, None, "203.0.113.7").say_text(
            f"cek porsi 03999{i:05d} lahir 1/1/1970")
        assert "data tidak cocok" in out
    out = await FromAddress(proxied, None, "203.0.113.7").say_text("cek porsi 0399900020 lahir 1/1/1970")
    assert "coba lagi dalam" in out and "data tidak cocok" not in out
    out = await FromAddress(proxied, "siti", "198.51.100.20").say_text("cek porsi 0312345678 lahir 5 Juni 1960")
    assert "SITI A***" in out


def request(peer: str, forwarded: str | None = None) -> Any:
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    req = make_mocked_request("POST", "/webchat/messages", headers=headers)
    req._transport_peername = (peer, 40000)  # what aiohttp reads for request.remote
    return req


def test_forwarded_for_only_from_trusted_proxies() -> None:
    keys = RequesterKeys(["10.0.0.0/8"], secret="k")
    assert keys.client_address(request("10.0.0.5", "203.0.113.7")).compressed == "203.0.113.7"
    # a client adding its own header in front: the proxy appended the real address last
    assert keys.client_address(request("10.0.0.5", "1.2.3.4, 203.0.113.7")).compressed == "203.0.113.7"
    # through two trusted proxies
    assert keys.client_address(request("10.0.0.5", "203.0.113.7, 10.0.0.9")).compressed == "203.0.113.7"
    # not from a trusted proxy: the header is ignored
    assert keys.client_address(request("198.51.100.1", "203.0.113.7")).compressed == "198.51.100.1"
    assert RequesterKeys([]).client_address(request("10.0.0.5", "203.0.113.7")).compressed == "10.0.0.5"
    # garbage in the header: believe nothing left of it
    assert keys.client_address(request("10.0.0.5", "203.0.113.7, nonsense")).compressed == "10.0.0.5"


def test_requester_key_is_a_hash_and_ipv6_counts_per_64() -> None:
    keys = RequesterKeys([], secret="k")
    a = keys.key(keys.client_address(request("2001:db8:1:2::10")))
    b = keys.key(keys.client_address(request("2001:db8:1:2:ffff::1")))
    c = keys.key(keys.client_address(request("2001:db8:1:3::10")))
    assert a == b != c and a is not None and a.startswith("ip:") and "2001" not in a
    assert "203.0.113.7" not in str(keys.key(keys.client_address(request("203.0.113.7"))))


def test_bad_trusted_proxy_is_a_config_error(make_settings: Any) -> None:
    from bot.config import ConfigError

    with pytest.raises(ConfigError, match="security.trusted_proxies"):
        make_settings({"security": {"trusted_proxies": ["not-an-address"]}})


async def test_address_reaches_the_engine_only_as_a_hash(proxied: Any) -> None:
    from sqlalchemy import select

    from bot import health
    from storage.models import Message, VerificationAttempt

    await FromAddress(proxied, "hash-check", "203.0.113.99").say_text("cek porsi 0312345678 lahir 1/1/1970")
    db = proxied.server.app[health.SERVICES_KEY].db
    async with db.session() as s:
        stored = (await s.execute(select(Message.requester).where(Message.direction == "in"))).scalars().all()
        attempts = (await s.execute(select(VerificationAttempt.requester))).scalars().all()
    assert stored and all(r and r.startswith("ip:") and "203.0.113" not in r for r in stored)
    assert attempts == [stored[0]]


async def test_telegram_user_is_the_requester(channel_client: Any, channel_services: Any) -> None:  # noqa: F811
    from tests.channels import fake_telegram as tg
    from tests.channels.conftest import TELEGRAM_SECRET
    from tests.channels.helpers import messages

    response = await channel_client.post("/telegram/webhook", json=tg.text_update(7001, 424242, "cek porsi"),
                                         headers={"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET})
    assert response.status == 200
    [inbound] = await messages(channel_services, "telegram", "in")
    assert inbound.requester == "tg:424242"


def test_remembered_requester_keys_follow_the_forwarded_address() -> None:
    keys = RequesterKeys(["10.0.0.0/8"], secret="k")
    first = keys.for_request(request("10.0.0.5", "203.0.113.7"))
    assert keys.for_request(request("10.0.0.5", "203.0.113.7")) == first
    assert keys.for_request(request("10.0.0.5", "198.51.100.9")) != first  # another client behind the proxy
    assert keys.for_request(request("198.51.100.1", "203.0.113.7")) == keys.key(keys.client_address(
        request("198.51.100.1")))  # not a trusted proxy: its header is still ignored
