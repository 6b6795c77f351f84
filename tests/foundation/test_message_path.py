"""storage/message_path.py: the message path's rows (plain conversation row, Core statements run on the DBAPI
connection by storage/dbapi_sql.py)."""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import StatementError

from bot.core.inbound import InboundMessage
from storage import message_path as rows
from storage.dbapi_sql import fetch
from storage.models import Conversation, Message


def _values(text: str, channel_message_id: str | None, status: str = "received") -> dict[str, Any]:
    return dict(channel="webchat", direction="in", channel_message_id=channel_message_id, text=text,
                attachments=[], status=status, sender="user", requester=None)


async def _conversation(services: Any, user_id: str) -> int:
    async with services.db.session() as session:
        conversation = Conversation(channel="webchat", channel_user_id=user_id, state={"a": 1})
        session.add(conversation)
        await session.commit()
        return conversation.id


async def test_store_inbound_flags_older_waiting_and_a_redelivery_is_a_no_op(services: Any) -> None:
    assert await _conversation(services, "mp-1")
    async with services.db.session() as session:
        assert await session.run_sync(rows.store_inbound, "webchat", "nobody", _values("x", "n-1"), False) is None
        conversation, first = await session.run_sync(rows.store_inbound, "webchat", "mp-1", _values("a", "m-1"), False)
        assert first is not None and not first.older_waiting and conversation.state == {"a": 1}
        _, second = await session.run_sync(rows.store_inbound, "webchat", "mp-1", _values("b", "m-2"), False)
        assert second is not None and second.older_waiting  # m-1 is still 'received'
        await session.commit()
    async with services.db.session() as session:
        _, again = await session.run_sync(rows.store_inbound, "webchat", "mp-1", _values("a", "m-1"), False)
        assert again is None  # the unique channel message id: rolled back, nothing stored
    async with services.db.session() as session:
        stored = (await session.execute(select(Message.channel_message_id).where(Message.direction == "in")
                                        .order_by(Message.id))).scalars().all()
    assert stored == ["m-1", "m-2"]


async def test_finish_writes_only_the_changed_conversation_columns(services: Any) -> None:
    conversation_id = await _conversation(services, "mp-2")
    async with services.db.session() as session:
        conversation, inserted = await session.run_sync(rows.store_inbound, "webchat", "mp-2",
                                                        _values("hai", "h-1"), False)
        assert inserted is not None
        assert conversation.changes() == {}
        conversation.state = {"a": 2}
        # a column changed by another statement of the transaction (storage/optouts.py) is not overwritten
        await session.execute(Conversation.__table__.update().where(Conversation.id == conversation_id)
                              .values(display_name="Budi"))
        assert conversation.changes() == {"state": {"a": 2}}
        outbound = [dict(conversation_id=conversation_id, channel="webchat", direction="out", text=t, choices=["1"],
                         attachments=[], status="pending", sent_at=None, reply_to_id=inserted.inbound.id,
                         sender="bot") for t in ("satu", "dua")]
        replies = await session.run_sync(rows.finish, conversation, inserted.inbound.id,
                                         {"processed_at": None, "intent": "greet", "intent_confidence": 0.9}, outbound)
        await session.commit()
    assert [(r.text, r.choices, r.status, r.reply_to_id) for r in replies] == \
        [("satu", ["1"], "pending", inserted.inbound.id), ("dua", ["1"], "pending", inserted.inbound.id)]
    assert conversation.changes() == {}
    async with services.db.session() as session:
        stored = await session.get(Conversation, conversation_id)
        inbound = await session.get(Message, inserted.inbound.id)
        assert stored is not None and inbound is not None
        assert (stored.state, stored.display_name) == ({"a": 2}, "Budi")
        assert (inbound.status, inbound.intent) == ("processed", "greet")
        assert [r.id for r in await session.run_sync(rows.replies_to, inbound.id)] == [r.id for r in replies]
    async with services.db.session() as session:  # again (on PostgreSQL the replies now go in one round trip)
        conversation, inserted = await session.run_sync(rows.store_inbound, "webchat", "mp-2",
                                                        _values("lagi", "h-2"), False)
        assert inserted is not None
        outbound = [{**reply, "text": t, "reply_to_id": inserted.inbound.id} for reply, t in
                    zip(outbound + outbound[:1], ("tiga", "empat", "lima"))]
        replies = await session.run_sync(rows.finish, conversation, inserted.inbound.id,
                                         {"processed_at": None, "intent": None, "intent_confidence": None}, outbound)
        await session.commit()
        assert [r.text for r in replies] == ["tiga", "empat", "lima"] and sorted(r.id for r in replies) == \
            [r.id for r in replies]
        assert await session.run_sync(rows.replies_to, inserted.inbound.id) == replies


async def test_concurrent_messages_of_one_conversation_are_processed_once_in_order(demo_services: Any) -> None:
    pipeline = demo_services.pipeline
    seen: list[str] = []
    real_step = pipeline.engine.step

    async def step(session: Any, files: Any, turn: Any) -> Any:
        seen.append(turn.text)
        await asyncio.sleep(0.005)  # let the other requests arrive while this one is in its step
        return await real_step(session, files, turn)

    pipeline.engine.step = step
    texts = [f"halo {i}" for i in range(8)]
    results = await asyncio.gather(*(pipeline.handle(InboundMessage("webchat", "mp-3", text,
                                                                    channel_message_id=f"c-{i}"), deliver=True)
                                     for i, text in enumerate(texts)))
    redelivered = await pipeline.handle(InboundMessage("webchat", "mp-3", texts[0], channel_message_id="c-0"))
    assert all(r.replies for r in results)
    assert redelivered.duplicate and [r.id for r in redelivered.replies] == [r.id for r in results[0].replies]
    async with demo_services.db.session() as session:
        stored = (await session.execute(select(Message.text, Message.status).where(Message.direction == "in")
                                        .order_by(Message.id))).all()
    assert seen == [text for text, _ in stored] and sorted(seen) == sorted(texts)  # each once, in stored order
    assert {status for _, status in stored} == {"processed"}


async def test_a_message_stored_while_waiting_for_the_row_lock_is_seen(services: Any) -> None:
    """PostgreSQL, several processes: B waits for A's conversation lock; A stores a message and commits; B's
    INSERT then sees it waiting (so B's message is not processed before it)."""
    if services.db.is_sqlite:
        pytest.skip("row locks: PostgreSQL only")
    await _conversation(services, "mp-4")
    async with services.db.session() as a, services.db.session() as b:
        _, first = await a.run_sync(rows.store_inbound, "webchat", "mp-4", _values("satu", "l-1"), True)
        assert first is not None and not first.older_waiting
        waiter = asyncio.create_task(b.run_sync(rows.store_inbound, "webchat", "mp-4", _values("dua", "l-2"), True))
        await asyncio.sleep(0.3)
        assert not waiter.done()  # B waits for the row lock
        await a.commit()
        _, second = await waiter
        assert second is not None and second.older_waiting
        await b.commit()


async def test_rows_are_stored_and_read_as_through_sqlalchemy(services: Any) -> None:
    """The statements run on the DBAPI connection (storage/dbapi_sql.py) with SQLAlchemy's own type conversions:
    a reply stored by finish() reads back through the ORM exactly as given, and replies_to() returns what a Core
    SELECT of the same rows returns (JSON with non-string keys, aware datetimes in another zone, NULLs)."""
    conversation_id = await _conversation(services, "mp-5")
    wib = timezone(timedelta(hours=7))
    sent_at = datetime(2026, 3, 1, 16, 0, 0, 123456, tzinfo=wib)
    async with services.db.session() as session:
        conversation, inserted = await session.run_sync(rows.store_inbound, "webchat", "mp-5",
                                                        _values("hai", "e-1"), False)
        assert inserted is not None and inserted.inbound.created_at.tzinfo is not None
        conversation.state = {"a": {1: [True, None, 1.5]}, "nama": "Budi Ñ"}
        conversation.subscribed = True
        outbound = [dict(conversation_id=conversation_id, channel="webchat", direction="out", text="satu",
                         choices=["Ya", "Tidak"], attachments=[{"file": "x.pdf", "size": 3}], status="sent",
                         sent_at=sent_at, reply_to_id=inserted.inbound.id, sender="bot")]
        replies = await session.run_sync(rows.finish, conversation, inserted.inbound.id,
                                         {"processed_at": sent_at, "intent": None, "intent_confidence": 0.25},
                                         outbound)
        await session.commit()
    async with services.db.session() as session:
        stored = await session.get(Conversation, conversation_id)
        reply = await session.get(Message, replies[0].id)
        inbound = await session.get(Message, inserted.inbound.id)
        assert stored is not None and reply is not None and inbound is not None
        assert (stored.state, stored.subscribed) == ({"a": {"1": [True, None, 1.5]}, "nama": "Budi Ñ"}, True)
        assert stored.updated_at > stored.created_at  # the onupdate default
        assert (reply.choices, reply.attachments, reply.sent_at, reply.attempts, reply.error) == \
            (["Ya", "Tidak"], [{"file": "x.pdf", "size": 3}], sent_at, 0, None)
        assert reply.sent_at.utcoffset() == timedelta(0) and reply.created_at.tzinfo is not None
        assert (inbound.status, inbound.processed_at, inbound.intent, inbound.intent_confidence) == \
            ("processed", sent_at, None, 0.25)
        core = (await session.execute(select(*Message.__table__.c).where(Message.id == reply.id))).all()
        raw = await session.run_sync(rows.replies_to, inserted.inbound.id)
        assert [tuple(r) for r in core] == [tuple(r) for r in raw] == [tuple(r) for r in replies]
        assert [type(v) for v in core[0]] == [type(v) for v in raw[0]]
        reloaded = await session.run_sync(rows.load_conversation, conversation_id, False)
        assert (reloaded.state, reloaded.subscribed, reloaded.updated_at) == \
            (stored.state, True, stored.updated_at)


async def test_database_errors_are_sqlalchemys(services: Any) -> None:
    """A naive datetime is refused as by a Core statement; a missing parameter is an error, not NULL."""
    await _conversation(services, "mp-6")
    async with services.db.session() as session:
        with pytest.raises(StatementError, match="naive datetime"):
            await session.run_sync(rows.store_inbound, "webchat", "mp-6",
                                   {**_values("x", "n-1"), "created_at": datetime(2026, 1, 1)}, False)
    async with services.db.session() as session:
        with pytest.raises(StatementError, match="required"):
            await session.run_sync(lambda sync: fetch(sync.connection(), rows._WAITING, {}))
