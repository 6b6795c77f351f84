"""Two real `hajibot serve` processes on one PostgreSQL: one conversation's messages, interleaved across
them, are processed strictly in order, one at a time, exactly once."""
from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from storage.db import Database
from storage.models import Conversation, Message
from tests.ops.conftest import needs_postgres
from tests.ops.servers import chat_headers

pytestmark = [pytest.mark.postgres, needs_postgres]

TEXTS = ["assalamualaikum", "cek porsi 0312345678", "menu", "apa syarat pembatalan haji?", "terima kasih",
         "halo", "cek status", "info pelunasan"]


async def post(client: httpx.AsyncClient, url: str, user: str, i: int, delay: float) -> tuple[int, dict[str, Any]]:
    await asyncio.sleep(delay)
    body = {"text": TEXTS[i % len(TEXTS)], "message_id": f"{user}-{i}"}
    for _ in range(20):  # a redelivery on 503, like a channel would
        response = await client.post(f"{url}/webchat/messages", json=body, headers=chat_headers(user), timeout=30)
        if response.status_code != 503:
            return response.status_code, response.json()
        await asyncio.sleep(0.2)
    return response.status_code, {}


async def rows(url: str, user: str) -> tuple[list[Message], list[Message]]:
    db = Database(url)
    try:
        async with db.session() as session:
            conversation = (await session.execute(select(Conversation).where(
                Conversation.channel == "webchat", Conversation.channel_user_id == user))).scalar_one()
            messages = (await session.execute(select(Message).where(
                Message.conversation_id == conversation.id).order_by(Message.id))).scalars().all()
    finally:
        await db.dispose()
    return [m for m in messages if m.direction == "in"], [m for m in messages if m.direction == "out"]


def assert_in_order_exactly_once(inbound: list[Message], outbound: list[Message], expected: int) -> None:
    assert len(inbound) == expected
    assert {m.status for m in inbound} == {"processed"}
    processed = [m.processed_at for m in inbound]
    assert processed == sorted(processed), "inbound processed out of id order"
    assert len(set(processed)) == len(processed)
    replied_to = [m.reply_to_id for m in outbound]
    assert replied_to == sorted(replied_to), "replies interleaved: two messages processed at once"
    assert set(replied_to) == {m.id for m in inbound}, "a message without replies"


async def test_one_conversation_interleaved_across_two_processes(seeded_url: str, start_server: Any) -> None:
    a = start_server(seeded_url, "a")
    b = start_server(seeded_url, "b")
    n = 40
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=100)) as client:
        results = await asyncio.gather(*(
            post(client, (a, b)[i % 2].url, "ratna", i, delay=i * 0.004) for i in range(n)))
    assert all(status == 200 for status, _ in results), results
    assert all(body["messages"] for _, body in results), "a request got no replies"
    inbound, outbound = await rows(seeded_url, "ratna")
    assert_in_order_exactly_once(inbound, outbound, n)
    # every reply returned to a client belongs to the message that client sent
    by_id = {m.id: m for m in outbound}
    ids_by_channel_id = {m.channel_message_id.split(":", 1)[1]: m.id for m in inbound}  # "<session>:<id>"
    for i, (_, body) in enumerate(results):
        for reply in body["messages"]:
            assert by_id[reply["id"]].reply_to_id == ids_by_channel_id[f"ratna-{i}"]


async def test_many_conversations_on_two_processes(seeded_url: str, start_server: Any) -> None:
    a = start_server(seeded_url, "a")
    b = start_server(seeded_url, "b")
    users = [f"u{k}" for k in range(8)]
    per_user = 12

    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=100)) as client:
        results = await asyncio.gather(*(
            post(client, (a, b)[(i + k) % 2].url, user, i, delay=i * 0.01)
            for k, user in enumerate(users) for i in range(per_user)))
    assert all(status == 200 for status, _ in results)
    for user in users:
        inbound, outbound = await rows(seeded_url, user)
        assert_in_order_exactly_once(inbound, outbound, per_user)
