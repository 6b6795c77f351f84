"""The SQLite adapter that runs each statement in one hand-off to aiosqlite's thread (storage/sqlite_driver.py)."""
from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiosqlite
import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import IntegrityError

from storage.db import Database
from storage.models import Base, Conversation


def test_aiosqlite_internals_it_relies_on_exist() -> None:
    assert hasattr(aiosqlite.Connection, "_execute")
    assert isinstance(aiosqlite.Connection.__dict__["_conn"], property)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    """A fresh SQLite file with the schema, through the one-hop adapter."""
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    async with database.engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    yield database
    await database.dispose()


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
