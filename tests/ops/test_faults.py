"""Fault tests: database connection lost mid-load, channel API down for a minute, a worker killed with
SIGKILL mid-conversation, disk full while saving a document. Each is bounded (seconds, not minutes)."""
from __future__ import annotations

import asyncio
import base64
import errno
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from sqlalchemy import func, select

from bot.core.inbound import InboundMessage
from storage.db import Database
from storage.models import CaseDocument, Message
from tests.ops.conftest import needs_postgres
from tests.ops.servers import chat_headers
from tests.conftest import chat_cookies

PDF = b"%PDF-1.4\n" + b"0" * 4000 + b"\n%%EOF\n"


async def inbound_rows(url: str) -> list[Message]:
    db = Database(url)
    try:
        async with db.session() as session:
            return list((await session.execute(select(Message).order_by(Message.id))).scalars().all())
    finally:
        await db.dispose()


def assert_each_processed_once(rows: list[Message], message_ids: set[str]) -> None:
    inbound = [m for m in rows if m.direction == "in"]
    # stored as "<session>:<client message id>"; none lost, none doubled
    assert sorted(m.channel_message_id.split(":", 1)[1] for m in inbound) == sorted(message_ids)
    assert {m.status for m in inbound} == {"processed"}
    replied = {m.reply_to_id for m in rows if m.direction == "out"}
    assert {m.id for m in inbound} <= replied
    # one processing per message: its replies are consecutive rows created in one transaction
    out = [m for m in rows if m.direction == "out"]
    for conversation in {m.conversation_id for m in out}:
        ids = [m.reply_to_id for m in out if m.conversation_id == conversation]
        assert ids == sorted(ids)


class Sender:
    """A pilgrim's phone: sends messages in order, redelivers (same message_id) on 503 or a broken
    connection, like Telegram/Twilio redeliver webhooks."""

    def __init__(self, client: httpx.AsyncClient, urls: list[str]) -> None:
        self.client, self.urls = client, urls
        self.acked: set[str] = set()
        self.unavailable: list[float] = []  # seconds until a 503 came back

    async def send(self, user: str, message_id: str, text: str, attempts: int = 200) -> dict[str, Any]:
        body = {"text": text, "message_id": message_id}
        for attempt in range(attempts):
            url = self.urls[attempt % len(self.urls)]
            started = time.monotonic()
            try:
                response = await self.client.post(f"{url}/webchat/messages", json=body, headers=chat_headers(user),
                                                  timeout=10)
            except httpx.HTTPError:
                await asyncio.sleep(0.1)
                continue
            if response.status_code == 503:
                self.unavailable.append(time.monotonic() - started)
                await asyncio.sleep(0.1)
                continue
            assert response.status_code == 200, response.text
            self.acked.add(message_id)
            return response.json()
        raise AssertionError(f"{message_id} never accepted")


TEXTS = ["assalamualaikum", "cek porsi 0312345678", "menu", "terima kasih", "apa syarat pendaftaran haji?"]


@pytest.mark.postgres
@needs_postgres
async def test_database_connection_lost_mid_load(seeded_url: str, pg_proxy: Any, start_server: Any) -> None:
    proxy, proxied_url = pg_proxy
    server = start_server(proxied_url, "a", sweep_seconds=0.5, stale_seconds=0.5)
    users, per_user = 8, 12
    ids = {f"u{u}-{i}" for u in range(users) for i in range(per_user)}
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=50)) as client:
        sender = Sender(client, [server.url])

        async def user(u: int) -> None:
            for i in range(per_user):
                reply = await sender.send(f"u{u}", f"u{u}-{i}", TEXTS[i % len(TEXTS)])
                assert reply["messages"], "acknowledged without replies"
                await asyncio.sleep(0.05)

        async def outage() -> None:
            await asyncio.sleep(0.8)
            proxy.cut()
            await asyncio.sleep(2.5)
            proxy.restore()

        await asyncio.gather(outage(), *(user(u) for u in range(users)))
    assert sender.unavailable, "the outage was not noticed"
    assert max(sender.unavailable) < 5.0, "requests did not fail fast during the outage"
    assert sender.acked == ids
    assert_each_processed_once(await inbound_rows(seeded_url), ids)
    health = httpx.get(f"{server.url}/readyz", timeout=5)
    assert health.status_code == 200


@pytest.mark.postgres
@needs_postgres
async def test_worker_killed_mid_conversation(seeded_url: str, start_server: Any) -> None:
    a = start_server(seeded_url, "a")
    b = start_server(seeded_url, "b", sweep_seconds=0.3, stale_seconds=0.5)
    ids: set[str] = set()
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=50)) as client:
        on_a = Sender(client, [a.url])
        for i in range(3):
            ids.add(f"k-{i}")
            await on_a.send("killme", f"k-{i}", TEXTS[i])
        # a burst at A (several users), then A dies with requests in flight
        burst = [(f"w{u}", f"w{u}-{i}") for u in range(6) for i in range(4)] + [("killme", f"k-{i}") for i in range(3, 8)]
        ids |= {mid for _, mid in burst}
        tasks = [asyncio.create_task(client.post(f"{a.url}/webchat/messages", json={
            "text": TEXTS[k % len(TEXTS)], "message_id": mid}, headers=chat_headers(user), timeout=10))
            for k, (user, mid) in enumerate(burst)]
        await asyncio.sleep(0.15)
        a.kill()
        done = await asyncio.gather(*tasks, return_exceptions=True)
        acked_by_a = {mid for (_, mid), r in zip(burst, done) if isinstance(r, httpx.Response) and r.status_code == 200}
        # the platform redelivers what A never acknowledged, now to B; B's sweep takes over the rest
        on_b = Sender(client, [b.url])
        for (user, mid), k in zip(burst, range(len(burst))):
            if mid not in acked_by_a:
                await on_b.send(user, mid, TEXTS[k % len(TEXTS)])
        follow_up = await on_b.send("killme", "k-after", "menu")
        ids.add("k-after")
        assert follow_up["messages"]
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        rows = await inbound_rows(seeded_url)
        if all(m.status == "processed" for m in rows if m.direction == "in"):
            break
        await asyncio.sleep(0.3)
    assert_each_processed_once(await inbound_rows(seeded_url), ids)


# channel API down -------------------------------------------------------------------------------

class Chaos:
    """Makes the fake Telegram answer 500 or time out (without processing) until switched back."""

    def __init__(self) -> None:
        self.mode = "ok"

    @web.middleware
    async def middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if self.mode == "500":
            return web.json_response({"ok": False, "error_code": 500, "description": "Internal Server Error"},
                                     status=500)
        if self.mode == "timeout":
            await asyncio.sleep(1.0)
            return web.Response(status=504)
        return await handler(request)


async def test_channel_api_down_outbox_backs_off_then_delivers_once(make_settings: Any, aiohttp_server: Any) -> None:
    from bot.services import build_services
    from tests.channels.conftest import CHANNEL_ENV, TELEGRAM_TOKEN, telegram_config
    from tests.channels.fake_telegram import FakeTelegram

    chaos = Chaos()
    fake = FakeTelegram(TELEGRAM_TOKEN)
    fake.app.middlewares.append(chaos.middleware)
    server = await aiohttp_server(fake.app)
    fake.url = str(server.make_url("")).rstrip("/")  # type: ignore[attr-defined]
    settings = make_settings({"channels": {"telegram": telegram_config(fake, request_timeout_seconds=0.3)}},
                             env=CHANNEL_ENV)
    services = await build_services(settings)
    now = [datetime.now(timezone.utc)]
    services.outbox.clock = lambda: now[0]
    try:
        for chat in range(10):
            await services.pipeline.handle(InboundMessage(channel="telegram", user_id=str(7000 + chat),
                                                          text="assalamualaikum", channel_message_id=f"t{chat}"))
        async with services.db.session() as session:
            expected = (await session.execute(select(func.count(Message.id)).where(Message.direction == "out"))).scalar_one()
        assert expected >= 10

        async def run_for(seconds: int, step: int = 1) -> None:
            for _ in range(0, seconds, step):
                await services.outbox.send_due()
                now[0] += timedelta(seconds=step)

        chaos.mode = "500"
        await run_for(40)
        chaos.mode = "timeout"
        await run_for(20, step=5)  # a minute of outage in all
        assert not fake.sent(), "nothing can have been delivered during the outage"
        chaos.mode = "ok"
        await run_for(300, step=10)
        await services.outbox.drain()
        async with services.db.session() as session:
            statuses = (await session.execute(select(Message.status, Message.attempts)
                                              .where(Message.direction == "out"))).all()
        assert {s for s, _ in statuses} == {"sent"}
        assert max(a for _, a in statuses) > 2, "no retries happened"
        assert len(fake.sent()) == expected, "each message delivered exactly once"
    finally:
        await services.close()


# disk full --------------------------------------------------------------------------------------

async def test_disk_full_when_saving_a_document(client: Any, demo_services: Any, monkeypatch: Any) -> None:
    import storage.files as files_module

    real_fdopen = files_module.os.fdopen

    class FullFile:
        def __init__(self, fh: Any) -> None:
            self.fh = fh

        def __enter__(self) -> "FullFile":
            return self

        def __exit__(self, *exc: Any) -> None:
            self.fh.close()

        def write(self, data: bytes) -> int:
            self.fh.write(data[: len(data) // 2])  # half written, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files_module.os, "fdopen", lambda fd, mode: FullFile(real_fdopen(fd, mode)))
    response = await client.post("/webchat/messages", cookies=chat_cookies(client, "disk-full"), json={
        "text": "ini akta kematian", "attachments": [{"filename": "akta.pdf", "content_type": "application/pdf",
                                                      "data_base64": base64.b64encode(PDF).decode()}]})
    assert response.status == 200
    texts = "\n".join(m["text"] for m in (await response.json())["messages"])
    assert "belum dapat kami simpan" in texts
    root = Path(demo_services.files.root)
    assert not [p for p in root.rglob("*") if p.is_file()], "a (half) file was left in the store"
    async with demo_services.db.session() as session:
        inbound = (await session.execute(select(Message).where(Message.direction == "in"))).scalar_one()
        assert all("sha256" not in a for a in inbound.attachments)
        assert inbound.attachments[0]["rejected"] == "storage_full"
        assert (await session.execute(select(func.count(CaseDocument.id)))).scalar_one() == 0
    monkeypatch.undo()
    again = await client.post("/webchat/messages", cookies=chat_cookies(client, "disk-full"), json={
        "text": "ini akta kematian", "attachments": [{"filename": "akta.pdf", "content_type": "application/pdf",
                                                      "data_base64": base64.b64encode(PDF).decode()}]})
    assert again.status == 200
    assert [p for p in root.rglob("*") if p.is_file()], "after space is freed the file is stored"
