"""Database engine and session factory (SQLite embedded default, PostgreSQL in production)."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from storage.dbapi_sql import run_savepoints_directly


# A pooled server connection is checked with a round-trip before use only when it sat idle this long; one
# in steady use is not (a ping per checkout was ~3 round-trips per message). A connection that breaks while
# in use (database restart) fails that statement as before, and SQLAlchemy then replaces the whole pool.
PING_IF_IDLE_SECONDS = 5.0


def dumps_json(value: Any) -> str:
    """JSON columns (conversation state, attachments, choices) through orjson: several times faster than the
    json module. Non-string keys become strings, as json.dumps does."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


class Database:
    """Owns the async engine and hands out sessions."""

    def __init__(self, url: str, pool_size: int = 10) -> None:
        self.url = url
        parsed = make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        kwargs: dict[str, Any] = {}
        if self.is_sqlite:
            database = parsed.database
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"timeout": 30}
            if parsed.get_driver_name() == "aiosqlite":
                from storage.sqlite_driver import inline_dbapi

                kwargs["module"] = inline_dbapi()
        else:
            kwargs.update(pool_size=pool_size, max_overflow=pool_size)
        self.engine: AsyncEngine = create_async_engine(url, json_serializer=dumps_json, json_deserializer=orjson.loads,
                                                       **kwargs)
        if self.is_sqlite:  # a local file: nothing to ping
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
            run_savepoints_directly(self.engine.sync_engine.dialect)  # a group commit has two per message
        else:
            _ping_idle_connections(self.engine)
        self.sessionmaker: async_sessionmaker[AsyncSession] = async_sessionmaker(
            self.engine, expire_on_commit=False
        )

    def session(self) -> AsyncSession:
        return self.sessionmaker()

    async def dispose(self) -> None:
        await self.engine.dispose()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _ping_idle_connections(engine: AsyncEngine) -> None:
    """Like pool_pre_ping, but only for a connection that was idle for PING_IF_IDLE_SECONDS or more."""
    dialect = engine.sync_engine.dialect

    @event.listens_for(engine.sync_engine, "checkin")
    def _checked_in(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < PING_IF_IDLE_SECONDS:
            return  # new, or in steady use
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as exc:
            # the pool discards this connection and checks out another (or connects anew)
            raise DisconnectionError(f"idle connection failed a ping: {type(exc).__name__}") from exc
