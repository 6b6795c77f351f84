"""Our SQLite driver: statements inline on the event loop, waits for a locked database as asyncio sleeps
(storage/sqlite_driver.py)."""
from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncio
import sqlite3
import time

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import IntegrityError

from storage import message_path
from storage.db import Database
from storage.models import Base, Conversation


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    """A fresh SQLite file with the schema, through our driver."""
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    async with database.engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    yield database
    await database.dispose()


@dataclass
class LockWait:
    """What the loop did while another process held the write lock: its 10 ms ticks, and how long we waited."""

    ticks: int = 0
    waited: float = 0.0


@asynccontextmanager
async def locked_by_another_process(path: Path, insert_other: bool = False) -> AsyncIterator[LockWait]:
    """Another connection holds the write lock (BEGIN IMMEDIATE) for 0.3 s; the body's statements must wait for
    it as asyncio sleeps, the loop ticking meanwhile."""
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    if insert_other:
        other.execute("INSERT INTO conversations (channel, channel_user_id, state, mode, subscribed, blocked, "
                      "created_at, updated_at) VALUES ('webchat', 'other', '{}', 'bot', 0, 0, '2026-01-01', "
                      "'2026-01-01')")
    wait = LockWait()

    async def heartbeat() -> None:
        while True:
            await asyncio.sleep(0.01)
            wait.ticks += 1

    async def release_later() -> None:
        await asyncio.sleep(0.3)
        other.execute("COMMIT")

    beat, release = asyncio.create_task(heartbeat()), asyncio.create_task(release_later())
    started = time.monotonic()
    try:
        yield wait
    finally:
        wait.waited = time.monotonic() - started
        beat.cancel()
        await release
        other.close()


async def test_statements_rows_rowcount_and_errors(db: Database) -> None:
    async with db.session() as session:
        session.add_all([Conversation(channel="webchat", channel_user_id=f"u{i}", state={"i": i}) for i in range(3)])
        await session.commit()
        rows = (await session.execute(select(Conversation).order_by(Conversation.id))).scalars().all()
        assert [(c.id, c.state) for c in rows] == [(1, {"i": 0}), (2, {"i": 1}), (3, {"i": 2})]
        result = await session.execute(update(Conversation).where(Conversation.id > 1).values(mode="staff"))
        assert result.rowcount == 2
        await session.commit()
        assert (await session.execute(select(func.count()).where(Conversation.mode == "staff"))).scalar_one() == 2
        assert (await session.execute(text("SELECT 1 WHERE 0"))).all() == []
    async with db.session() as session:  # unique (channel, channel_user_id)
        session.add(Conversation(channel="webchat", channel_user_id="u0", state={}))
        with pytest.raises(IntegrityError):
            await session.commit()
        await session.rollback()
        assert (await session.execute(select(func.count(Conversation.id)))).scalar_one() == 3


async def test_uncommitted_work_is_rolled_back_when_the_session_closes(db: Database) -> None:
    async with db.session() as session:
        session.add(Conversation(channel="webchat", channel_user_id="gone", state={}))
        await session.flush()  # inside a transaction now; closed without commit
    async with db.session() as session:
        assert (await session.execute(select(func.count(Conversation.id)))).scalar_one() == 0
        session.add(Conversation(channel="webchat", channel_user_id="kept", state={}))
        await session.commit()
        await session.commit()  # nothing open: a no-op, as in sqlite3
    async with db.session() as session:
        assert (await session.execute(select(Conversation.channel_user_id))).scalars().all() == ["kept"]


async def test_a_locked_database_is_waited_for_without_blocking_the_loop(db: Database, tmp_path: Path) -> None:
    """Another process holds the write lock for 0.3 s: our insert waits (as asyncio sleeps, so other requests
    run meanwhile) and succeeds once the lock is released."""
    async with locked_by_another_process(tmp_path / "x.db", insert_other=True) as wait:
        async with db.session() as session:
            session.add(Conversation(channel="webchat", channel_user_id="mine", state={}))
            await session.commit()
    assert wait.waited >= 0.25 and wait.ticks >= 10  # it waited for the lock, and the loop kept running meanwhile
    async with db.session() as session:
        assert sorted((await session.execute(select(Conversation.channel_user_id))).scalars()) == ["mine", "other"]


async def test_a_lock_held_past_the_timeout_fails_the_statement(tmp_path: Path) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'y.db'}")
    async with database.engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    other = sqlite3.connect(tmp_path / "y.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        async with database.engine.connect() as conn:
            conn.sync_connection.connection.dbapi_connection.timeout = 0.2  # type: ignore[union-attr]
            started = time.monotonic()
            with pytest.raises(Exception, match="database is locked"):
                await conn.execute(update(Conversation).values(mode="staff"))
            assert 0.15 <= time.monotonic() - started < 2
    finally:
        other.execute("ROLLBACK")
        other.close()
        await database.dispose()


async def test_the_message_paths_statements_wait_for_a_lock_too(db: Database, tmp_path: Path) -> None:
    """storage/dbapi_sql.py runs the message path's statements on sqlite3 directly (InlineConnection.fetch_rows):
    the same asyncio waits for a database locked by another process, and the loop keeps running."""
    async with db.session() as session:
        session.add(Conversation(channel="webchat", channel_user_id="u", state={}))
        await session.commit()
    values = dict(channel="webchat", direction="in", channel_message_id="m-1", text="hai", attachments=[],
                  status="received", sender="user", requester=None)
    async with locked_by_another_process(tmp_path / "x.db") as wait:
        async with db.session() as session:
            stored = await session.run_sync(message_path.store_inbound, "webchat", "u", values, False)
            await session.run_sync(message_path.commit)
    assert stored is not None and stored[1] is not None
    assert wait.waited >= 0.25 and wait.ticks >= 10
