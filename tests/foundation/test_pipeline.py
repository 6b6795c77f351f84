"""The message pipeline: durable deduplicated inbox, ordering per conversation, concurrency, recovery."""
from __future__ import annotations

import asyncio
import base64
from typing import Any

from sqlalchemy import func, select

from bot.core.inbound import InboundAttachment, InboundMessage
from bot.services import build_services
from storage.models import Conversation, Message
from tests.conftest import chat_cookies


async def count(services: Any, *where: Any) -> int:
    async with services.db.session() as session:
        return int((await session.execute(select(func.count(Message.id)).where(*where))).scalar_one())


async def test_redelivered_message_is_processed_once(client: Any, demo_services: Any) -> None:
    body = {"text": "assalamualaikum", "message_id": "m-1"}
    cookies = chat_cookies(client, "u-dup")
    first = await (await client.post("/webchat/messages", json=body, cookies=cookies)).json()
    second = await (await client.post("/webchat/messages", json=body, cookies=cookies)).json()
    assert first["messages"] and not first["duplicate"]
    assert second["duplicate"] is True
    assert [m["id"] for m in second["messages"]] == [m["id"] for m in first["messages"]]
    assert await count(demo_services, Message.direction == "in") == 1
    assert await count(demo_services, Message.direction == "out") == len(first["messages"])


class RecordingEngine:
    """Wraps the real engine and records which message each step saw, and overlapping steps."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.seen: list[tuple[int, str]] = []
        self.active: dict[int, int] = {}
        self.overlaps = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.engine, name)

    async def step(self, session: Any, files: Any, turn: Any) -> Any:
        cid = turn.conversation.id
        self.active[cid] = self.active.get(cid, 0) + 1
        if self.active[cid] > 1:
            self.overlaps += 1
        self.seen.append((cid, turn.text))
        await asyncio.sleep(0.01)  # widen the window in which a second step could overlap
        try:
            return await self.engine.step(session, files, turn)
        finally:
            self.active[cid] -= 1


async def test_conversations_interleaved_keep_order_and_own_replies(demo_services: Any) -> None:
    recorder = RecordingEngine(demo_services.pipeline.engine)
    demo_services.pipeline.engine = recorder
    pipeline = demo_services.pipeline
    users = ["alice", "budi"]
    texts = {u: [f"{u} pesan {i}" for i in range(6)] for u in users}
    # Store everything first (arrival order), then process concurrently from several tasks.
    for i in range(6):
        for u in users:
            await pipeline.receive(InboundMessage(channel="webchat", user_id=u, text=texts[u][i],
                                                  channel_message_id=f"{u}-{i}"))
    async with demo_services.db.session() as session:
        conv_ids = {c.channel_user_id: c.id for c in (await session.execute(select(Conversation))).scalars()}
    await asyncio.gather(*(pipeline.process(conv_ids[u]) for u in users for _ in range(3)))
    assert recorder.overlaps == 0
    for u in users:
        assert [t for cid, t in recorder.seen if cid == conv_ids[u]] == texts[u]
    async with demo_services.db.session() as session:
        inbound = (await session.execute(select(Message).where(Message.direction == "in"))).scalars().all()
        assert {m.status for m in inbound} == {"processed"}
        outbound = (await session.execute(select(Message).where(Message.direction == "out"))).scalars().all()
        by_id = {m.id: m for m in inbound}
        for reply in outbound:
            assert reply.conversation_id == by_id[reply.reply_to_id].conversation_id


async def test_concurrent_webchat_requests_of_two_users(client: Any, demo_services: Any) -> None:
    async def say(user: str, text: str) -> list[dict[str, Any]]:
        response = await client.post("/webchat/messages", json={"text": text}, cookies=chat_cookies(client, user))
        assert response.status == 200
        return (await response.json())["messages"]

    results = await asyncio.gather(*(say(u, t) for t in ("halo", "menu", "terima kasih") for u in ("x1", "x2")))
    assert all(results)
    assert await count(demo_services, Message.direction == "in", Message.status == "processed") == 6


async def test_stored_but_unprocessed_message_is_processed_after_restart(settings: Any) -> None:
    first = await build_services(settings)
    received = await first.pipeline.receive(InboundMessage(channel="webchat", user_id="crash", text="halo",
                                                           channel_message_id="c-1"))
    await first.close()  # the process "dies" after storing, before processing
    second = await build_services(settings)
    try:
        assert await second.pipeline.recover() == 1
        async with second.db.session() as session:
            message = await session.get(Message, received.message_id)
            assert message is not None and message.status == "processed"
            replies = (await session.execute(select(Message).where(Message.reply_to_id == message.id))).scalars()
            assert list(replies)
    finally:
        await second.close()


async def test_malformed_requests_get_400_and_are_not_stored(client: Any, demo_services: Any) -> None:
    bad_bodies: list[Any] = [
        {"user_id": "someone-else", "text": "halo"},  # the conversation comes from the session only
        {"text": 5},
        {"text": ""},
        {"text": "x", "attachments": [{"filename": "a.jpg", "data_base64": "***"}]},
        {"text": "x", "attachments": "nope"},
        {"text": "x", "message_id": 7},
        {"text": "x", "message_id": "m" * 65},
        ["not", "an", "object"],
    ]
    for body in bad_bodies:
        response = await client.post("/webchat/messages", json=body, cookies=chat_cookies(client, "u"))
        assert response.status == 400, body
        assert "error" in await response.json()
    response = await client.post("/webchat/messages", data=b"\xff\xfe{not json",
                                 headers={"Content-Type": "application/json"})
    assert response.status == 400
    assert await count(demo_services) == 0


async def test_text_at_the_limit_is_stored_whole(client: Any, demo_services: Any) -> None:
    text = ("tolong bantu ambo cek porsi " * 200)[:4096]
    response = await client.post("/webchat/messages", json={"text": text}, cookies=chat_cookies(client, "long"))
    assert response.status == 200
    assert (await response.json())["messages"]
    async with demo_services.db.session() as session:
        stored = (await session.execute(select(Message).where(Message.direction == "in"))).scalar_one()
    assert stored.text == text


async def test_oversized_attachment_gets_a_clear_answer(make_settings: Any, aiohttp_client: Any) -> None:
    from bot.app import create_app

    settings = make_settings({"dialogue": {"max_upload_bytes": 2048}})
    services = await build_services(settings)
    client = await aiohttp_client(create_app(services))
    data = base64.b64encode(b"\xff\xd8\xff" + b"0" * 5000).decode()
    response = await client.post("/webchat/messages", cookies=chat_cookies(client, "big"), json={
        "text": "", "attachments": [{"filename": "ktp.jpg", "content_type": "image/jpeg", "data_base64": data}]})
    assert response.status == 200
    texts = [m["text"] for m in (await response.json())["messages"]]
    assert any("ktp.jpg" in t and "terlalu besar" in t for t in texts)
    assert not list(services.files.root.rglob("*")) or all(p.is_dir() for p in services.files.root.rglob("*"))


async def test_non_utf8_text_from_a_channel_does_not_break(demo_services: Any) -> None:
    weird = "halo \udcff \x00 \u202e مرحبا 😀"
    result = await demo_services.pipeline.handle(InboundMessage(
        channel="webchat", user_id="weird", text=weird.encode("utf-8", "replace").decode("utf-8"),
        attachments=(InboundAttachment("a.bin", "application/octet-stream", b"\x00\x01"),)))
    assert result.replies
