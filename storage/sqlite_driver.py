"""SQLite for the async engine with one thread hand-off per statement.

aiosqlite runs every sqlite3 call on its own thread; SQLAlchemy's adapter awaits each step of a statement
separately (open a cursor, execute, fetch the rows, close the cursor), so one statement costs three or
four hand-offs between the event loop and that thread, each a queue put, a thread wake-up and a self-pipe
write back to the loop. On a loaded 2-core machine those hand-offs were the largest single cost of a
message on SQLite. The cursor below does the whole statement in one call on aiosqlite's thread; the
statements, their order and their transactions are exactly the same.

It relies on two aiosqlite internals that SQLAlchemy's own adapter also uses (`Connection._conn`, the
sqlite3 connection, and `Connection._execute`, which runs a function on the connection's thread);
tests/foundation/test_sqlite_driver.py checks they are there.
"""
from __future__ import annotations

import collections
from collections.abc import Sequence
from threading import Thread
from typing import Any

from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_


def _run_statement(conn: Any, operation: str, parameters: Any) -> tuple[Any, list[Any], int, int | None]:
    """On aiosqlite's thread: the whole statement, returning what the cursor adapter reports."""
    cursor = conn.cursor()
    try:
        if parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


def _run_many(conn: Any, operation: str, seq_of_parameters: Any) -> tuple[int, int | None]:
    cursor = conn.cursor()
    try:
        cursor.executemany(operation, seq_of_parameters)
        return cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


class OneHopCursor(AsyncAdapt_aiosqlite_cursor):
    """A buffered cursor: execute() runs, fetches and closes on the sqlite thread in one hand-off."""

    __slots__ = ("_description", "_rowcount", "_lastrowid")

    def __init__(self, adapt_connection: AsyncAdapt_aiosqlite_connection) -> None:  # no aiosqlite cursor
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> Any:
        return self._lastrowid

    @property
    def arraysize(self) -> int:
        return 1

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        return None  # rows are always fetched whole

    async def _async_soft_close(self) -> None:
        return None  # nothing is open on the sqlite thread after execute()

    def close(self) -> None:
        self._rows.clear()

    async def _execute_async(self, operation: Any, parameters: Any) -> Any:
        async with self._adapt_connection._execute_mutex:
            conn = self._connection._conn
            self._description, rows, self._rowcount, self._lastrowid = await self._connection._execute(
                _run_statement, conn, operation, parameters)
            self._rows = collections.deque(rows)
        return None

    async def _executemany_async(self, operation: Any, seq_of_parameters: Sequence[Any]) -> Any:
        async with self._adapt_connection._execute_mutex:
            conn = self._connection._conn
            self._description = None
            self._rowcount, self._lastrowid = await self._connection._execute(
                _run_many, conn, operation, seq_of_parameters)
        return None


class OneHopConnection(AsyncAdapt_aiosqlite_connection):
    """Also skips the hand-off for a commit or rollback outside a transaction: sqlite3 does nothing then
    (it checks sqlite3_get_autocommit, as `in_transaction` does). SQLAlchemy rolls back every connection
    it returns to the pool, also right after a commit, so this saves a hand-off per session."""

    __slots__ = ()
    _cursor_cls = OneHopCursor

    def _idle(self) -> bool:
        conn = self._connection._connection  # the sqlite3 connection, None once closed
        return conn is not None and not conn.in_transaction

    def rollback(self) -> None:
        if not self._idle():
            super().rollback()

    def commit(self) -> None:
        if not self._idle():
            super().commit()


class OneHopDbapi(AsyncAdapt_aiosqlite_dbapi):
    """Pass as `module=` to create_async_engine for a sqlite+aiosqlite URL."""

    def connect(self, *arg: Any, **kw: Any) -> OneHopConnection:
        creator_fn = kw.pop("async_creator_fn", None)
        if creator_fn:
            connection = creator_fn(*arg, **kw)
        else:
            connection = self.aiosqlite.connect(*arg, **kw)
            if isinstance(connection, Thread):  # aiosqlite < 0.22: the connection is the thread
                connection.daemon = True
            else:
                connection._thread.daemon = True
        return OneHopConnection(self, await_(connection))


def one_hop_dbapi() -> OneHopDbapi:
    import sqlite3

    import aiosqlite

    return OneHopDbapi(aiosqlite, sqlite3)
