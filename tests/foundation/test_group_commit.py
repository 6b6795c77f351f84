"""SQLite group commit (bot/core/group_commit.py): messages handled at the same time share one commit, each
answered only after it; a failing step loses only its own savepoint; a failed commit fails every member."""
from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from sqlalchemy import event, func, select, update

from bot.core.inbound import InboundMessage
from storage.models import Conversation, Message
from tests.conftest import PG_URL

pytestmark = pytest.mark.skipif(bool(PG_URL), reason="group commit is SQLite's (PostgreSQL commits per message)")


class YieldingNlu:
    """The real NLU backend, giving the event loop up once per parse (as one over the network does): messages
    sent at the same time are then in flight together, which is when they share a commit (a message alone in
    flight commits by itself)."""

    def __init__(self, nlu: Any) -> None:
        self.nlu = nlu

    def __getattr__(self, name: str) -> Any:
        return getattr(self.nlu, name)

    async def parse(self, text: str) -> Any:
        await asyncio.sleep(0)
        return await self.nlu.parse(text)


@pytest.fixture
def pipeline(demo_services: Any) -> Any:
    demo_services.pipeline.nlu = YieldingNlu(demo_services.pipeline.nlu)
    demo_services.pipeline._sqlite_writes.max_age = 5.0  # a loaded test machine must not cut a group by its age
    return demo_services.pipeline


def text(user: str, words: str, n: int) -> InboundMessage:
    return InboundMessage("webchat", user, words, channel_message_id=f"{user}-{n}")


async def first_contact(pipeline: Any, *users: str) -> None:
    """Create the users' conversations (one message each, one at a time)."""
    for user in users:
        await pipeline.handle(text(user, "assalamualaikum", 0), deliver=True)


def record_commits(services: Any, log: list[str]) -> None:
    event.listen(services.db.engine.sync_engine, "commit", lambda _conn: log.append("commit"))


async def inbound(services: Any, *where: Any) -> list[Message]:
    async with services.db.session() as session:
        return list((await session.execute(select(Message).where(Message.direction == "in", *where)
                                           .order_by(Message.id))).scalars())


async def test_two_conversations_are_committed_together(demo_services: Any, pipeline: Any) -> None:
    await first_contact(pipeline, "ga", "gb")
    log: list[str] = []
    record_commits(demo_services, log)

    async def send(user: str) -> None:
        result = await pipeline.handle(text(user, "mau cek porsi 1234567890", 1), deliver=True)
        assert result.replies and not result.duplicate
        log.append(f"reply {user}")

    await asyncio.gather(send("ga"), send("gb"))
    assert log[0] == "commit" and log.count("commit") == 1  # one commit, before either reply
    assert sorted(log[1:]) == ["reply ga", "reply gb"]
    stored = await inbound(demo_services, Message.channel_message_id.in_(["ga-1", "gb-1"]))
    assert [m.status for m in stored] == ["processed", "processed"]


async def test_first_contacts_in_one_group(demo_services: Any, pipeline: Any) -> None:
    """A new conversation is created in the member's savepoint, released; the message goes on in a new one."""
    log: list[str] = []
    record_commits(demo_services, log)
    results = await asyncio.gather(*(pipeline.handle(text(u, "assalamualaikum", 0), deliver=True)
                                     for u in ("na", "nb", "nc")))
    assert all(result.replies for result in results) and log == ["commit"]
    async with demo_services.db.session() as session:
        users = (await session.execute(select(Conversation.channel_user_id))).scalars().all()
    assert sorted(users) == ["na", "nb", "nc"]
    assert len(await inbound(demo_services, Message.status == "processed")) == 3


async def test_outbound_notice_and_reply_come_after_the_commit(demo_services: Any, pipeline: Any) -> None:
    await first_contact(pipeline, "oa", "ob", "oc")
    log: list[str] = []
    record_commits(demo_services, log)
    pipeline.on_outbound = lambda channel: log.append("outbound")

    async def send(user: str) -> None:
        await pipeline.handle(text(user, "berapa biaya haji", 1))  # pending replies: the outbox is told
        log.append("reply")

    await asyncio.gather(*(send(u) for u in ("oa", "ob", "oc")))
    assert log[0] == "commit" and log.count("commit") == 1
    assert log[1:] == ["outbound", "reply"] * 3


async def test_a_failing_step_in_a_group_loses_only_its_own_message(demo_services: Any, pipeline: Any) -> None:
    await first_contact(pipeline, "fa", "fb", "fc")

    class FailsForFb:
        def __init__(self, engine: Any) -> None:
            self.engine = engine

        def __getattr__(self, name: str) -> Any:
            return getattr(self.engine, name)

        async def step(self, session: Any, files: Any, turn: Any) -> Any:
            replies = await self.engine.step(session, files, turn)  # its writes are in the savepoint
            if turn.text == "gagal":
                raise RuntimeError("boom")
            return replies

    pipeline.engine = FailsForFb(pipeline.engine)
    results = await asyncio.gather(pipeline.handle(text("fa", "berapa biaya haji", 1), deliver=True),
                                   pipeline.handle(text("fb", "gagal", 1), deliver=True),
                                   pipeline.handle(text("fc", "berapa biaya haji", 1), deliver=True))
    assert all(result.replies for result in results)
    stored = {m.channel_message_id: m.status for m in await inbound(demo_services, Message.channel_message_id.in_(
        ["fa-1", "fb-1", "fc-1"]))}
    assert stored == {"fa-1": "processed", "fb-1": "failed", "fc-1": "processed"}


async def test_a_failed_group_commit_fails_every_member_and_stores_nothing(demo_services: Any, pipeline: Any) -> None:
    await first_contact(pipeline, "xa", "xb")
    failing = {"on": True}

    def fail_commit(_conn: Any) -> None:
        if failing.pop("on", False):
            raise RuntimeError("commit failed")

    event.listen(demo_services.db.engine.sync_engine, "commit", fail_commit)
    results = await asyncio.gather(pipeline.handle(text("xa", "berapa biaya haji", 1), deliver=True),
                                   pipeline.handle(text("xb", "berapa biaya haji", 1), deliver=True),
                                   return_exceptions=True)
    assert [str(result) for result in results] == ["commit failed", "commit failed"]
    assert await inbound(demo_services, Message.channel_message_id.in_(["xa-1", "xb-1"])) == []
    # the next messages are stored and answered (a redelivery of the lost ones, too)
    again = await asyncio.gather(pipeline.handle(text("xa", "berapa biaya haji", 1), deliver=True),
                                 pipeline.handle(text("xb", "berapa biaya haji", 1), deliver=True))
    assert all(result.replies and not result.duplicate for result in again)


async def test_order_per_conversation_under_concurrency(demo_services: Any, pipeline: Any) -> None:
    users = ["oa1", "ob1", "oc1"]
    await first_contact(pipeline, *users)
    seen: list[tuple[int, str]] = []
    engine = pipeline.engine

    class Recording:
        def __getattr__(self, name: str) -> Any:
            return getattr(engine, name)

        async def step(self, session: Any, files: Any, turn: Any) -> Any:
            seen.append((turn.conversation.id, turn.text))
            return await engine.step(session, files, turn)

    pipeline.engine = Recording()
    log: list[str] = []
    record_commits(demo_services, log)
    texts = [f"pertanyaan {i}" for i in range(1, 7)]
    # every message of every user at once, created in order
    await asyncio.gather(*(pipeline.handle(text(u, t, i), deliver=True)
                           for i, t in enumerate(texts, 1) for u in users))
    assert len(log) < len(users) * len(texts)  # commits were shared
    async with demo_services.db.session() as session:
        ids = {c.channel_user_id: c.id for c in (await session.execute(select(Conversation))).scalars()}
    for user in users:
        assert [t for cid, t in seen if cid == ids[user]] == texts
        rows = await inbound(demo_services, Message.conversation_id == ids[user], Message.text != "assalamualaikum")
        assert [m.text for m in rows] == texts and {m.status for m in rows} == {"processed"}


async def test_a_redelivery_while_the_original_waits_for_its_group(demo_services: Any, pipeline: Any) -> None:
    await first_contact(pipeline, "ra", "rb")
    first, other, again = await asyncio.gather(
        pipeline.handle(text("ra", "berapa biaya haji", 1), deliver=True),
        pipeline.handle(text("rb", "berapa biaya haji", 1), deliver=True),
        pipeline.handle(text("ra", "berapa biaya haji", 1), deliver=True))
    assert not first.duplicate and not other.duplicate and again.duplicate
    assert [m.id for m in again.replies] == [m.id for m in first.replies]
    assert len(await inbound(demo_services, Message.channel_message_id == "ra-1")) == 1


async def test_a_write_on_another_connection_completes_during_load(demo_services: Any, pipeline: Any) -> None:
    """Back office, outbox: their own connections meet the group only as SQLite's file lock."""
    users = [f"load{i}" for i in range(8)]
    await first_contact(pipeline, *users)
    done: list[float] = []

    async def load() -> None:
        for n in range(1, 9):
            await asyncio.gather(*(pipeline.handle(text(u, "berapa biaya haji", n), deliver=True) for u in users))

    async def back_office() -> None:
        for n in range(5):
            started = time.monotonic()
            async with demo_services.db.session() as session:
                await session.execute(update(Conversation).where(Conversation.channel_user_id == "load0")
                                      .values(display_name=f"staff edit {n}"))
                await session.commit()
            done.append(time.monotonic() - started)
            await asyncio.sleep(0.005)

    await asyncio.gather(load(), back_office())
    assert len(done) == 5 and max(done) < 10
    async with demo_services.db.session() as session:
        name = (await session.execute(select(Conversation.display_name)
                                      .where(Conversation.channel_user_id == "load0"))).scalar_one()
        count = (await session.execute(select(func.count()).select_from(Message)
                                       .where(Message.direction == "in", Message.status == "processed"))).scalar_one()
    assert name == "staff edit 4" and count == len(users) * 9
