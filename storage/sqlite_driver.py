"""Our SQLite driver for SQLAlchemy's async engine: statements run inline, on the event loop's thread.

Why: aiosqlite runs every sqlite3 call on a thread of its own, so each statement, commit and rollback is a
hand-off between the event loop and that thread (a queue put, a thread wake-up, a self-pipe write back) plus a
GIL hand-over each way. On a busy 2-core machine a profile of the text script showed ~70 % of the event loop's
time spent handing statements over (bench/results/load-*.md). The statements themselves take microseconds: a
local file in WAL mode with synchronous=NORMAL does not fsync on commit. So this driver calls sqlite3 directly.

What it keeps from aiosqlite's behaviour, and how:
- Waiting for another writer never blocks the loop. sqlite3's own busy handler would sleep inside the call
  (freezing every other request, and deadlocking against a transaction of this same process that needs the
  loop to finish). Connections are opened with no busy timeout; a statement or commit that finds the database
  locked is retried after an asyncio sleep (0.5 ms doubling to 20 ms) until the connect `timeout` (seconds)
  has passed, then the error is raised as before. SQLITE_BUSY_SNAPSHOT (a WAL read snapshot that went stale
  before its first write) is raised at once, as sqlite3 does: only a new transaction can help.
- Results are buffered: execute() fetches every row, so no statement stays open on the connection (a commit
  never meets a running SELECT). Server-side cursors are the same buffered cursor.
- A slow statement does hold up the loop while it runs. On SQLite (one process, the embedded default) the
  service's statements are short; big imports are done in batches (storage/registry_import.py).

SQLAlchemy's aiosqlite dialect (URL `sqlite+aiosqlite://`) drives it: storage/db.py passes `module=`
`inline_dbapi()`. Exceptions, the dialect's SQL and transactions are exactly sqlite3's, as before.
Tested in tests/foundation/test_sqlite_driver.py.
"""
from __future__ import annotations

import asyncio
import collections
import sqlite3
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy.dialects.sqlite.aiosqlite import AsyncAdapt_aiosqlite_dbapi
from sqlalchemy.engine.interfaces import AdaptedConnection
from sqlalchemy.util.concurrency import await_, in_greenlet

T = TypeVar("T")

SQLITE_BUSY = 5
SQLITE_BUSY_SNAPSHOT = SQLITE_BUSY | (2 << 8)
FIRST_WAIT, MAX_WAIT = 0.0005, 0.02  # seconds between retries of a statement that found the database locked


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:  # very old sqlite3 modules: only the message
        return "database is locked" in str(exc)
    return code & 0xFF == SQLITE_BUSY and code != SQLITE_BUSY_SNAPSHOT


def _sleep(seconds: float) -> None:
    if in_greenlet():  # inside SQLAlchemy's async bridge: let the loop run other work (e.g. the lock holder)
        await_(asyncio.sleep(seconds))
    else:
        time.sleep(seconds)


async def _done() -> None:
    return None


def _checkpoint() -> None:
    """SQLAlchemy's AsyncConnection.execute() refuses a driver that never awaited (its guard against a sync
    driver on the async engine): each statement passes one await that is already finished. It does not give
    the event loop up; it costs two greenlet switches (~2 us)."""
    if in_greenlet():
        await_(_done())


def retry_busy(call: Callable[[], T], timeout: float) -> T:
    """Run `call`; while the database is locked by another connection, retry until `timeout` seconds."""
    deadline, wait = None, FIRST_WAIT
    while True:
        try:
            return call()
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc):
                raise
            now = time.monotonic()
            deadline = deadline or now + timeout
            if now >= deadline:
                raise
            _sleep(min(wait, deadline - now))
            wait = min(wait * 2, MAX_WAIT)


class InlineCursor:
    """A DB-API cursor over a sqlite3 cursor; execute() runs the statement and buffers its rows."""

    __slots__ = ("_connection", "_cursor", "_rows", "description", "rowcount", "lastrowid")

    arraysize = 1

    def __init__(self, connection: InlineConnection) -> None:
        self._connection = connection
        self._cursor: sqlite3.Cursor = connection._connection.cursor()
        self._rows: collections.deque[Any] = collections.deque()
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None

    def execute(self, operation: str, parameters: Any = None) -> None:
        _checkpoint()
        cursor = self._cursor
        retry_busy(lambda: cursor.execute(operation, () if parameters is None else parameters),
                   self._connection.timeout)
        self.description = cursor.description
        self._rows = collections.deque(cursor.fetchall()) if self.description else collections.deque()
        self.rowcount, self.lastrowid = cursor.rowcount, cursor.lastrowid

    def executemany(self, operation: str, seq_of_parameters: Sequence[Any]) -> None:
        _checkpoint()
        cursor = self._cursor
        retry_busy(lambda: cursor.executemany(operation, seq_of_parameters), self._connection.timeout)
        self.description, self._rows = None, collections.deque()
        self.rowcount, self.lastrowid = cursor.rowcount, cursor.lastrowid

    def fetchone(self) -> Any:
        return self._rows.popleft() if self._rows else None

    def fetchmany(self, size: int | None = None) -> list[Any]:
        count = self.arraysize if size is None else size
        return [self._rows.popleft() for _ in range(min(count, len(self._rows)))]

    def fetchall(self) -> list[Any]:
        rows = list(self._rows)
        self._rows.clear()
        return rows

    def __iter__(self) -> Any:
        while self._rows:
            yield self._rows.popleft()

    def close(self) -> None:
        self._rows.clear()
        self._cursor.close()

    async def _async_soft_close(self) -> None:
        """SQLAlchemy's async result calls this after execute(); nothing is left open on the connection."""
        return None

    def setinputsizes(self, *sizes: Any) -> None:
        return None

    def setoutputsize(self, size: Any, column: Any = None) -> None:
        return None

    def nextset(self) -> None:
        return None


class InlineConnection(AdaptedConnection):
    """The DB-API connection SQLAlchemy sees: a sqlite3 connection used on the event loop's thread."""

    __slots__ = ("dbapi", "timeout")

    def __init__(self, dbapi: InlineDbapi, connection: sqlite3.Connection, timeout: float) -> None:
        self.dbapi = dbapi
        self._connection = connection
        self.timeout = timeout

    @property
    def isolation_level(self) -> str | None:
        return self._connection.isolation_level

    @isolation_level.setter
    def isolation_level(self, value: str | None) -> None:
        self._connection.isolation_level = value

    def create_function(self, *args: Any, **kw: Any) -> None:
        self._connection.create_function(*args, **kw)

    def cursor(self, server_side: bool = False) -> InlineCursor:
        return InlineCursor(self)

    def execute(self, operation: str, parameters: Any = None) -> InlineCursor:
        cursor = self.cursor()
        cursor.execute(operation, parameters)
        return cursor

    def fetch_rows(self, operation: str, parameters: Sequence[Any]) -> tuple[list[Any], Any]:
        """Run one statement and return (its rows, its cursor description): for storage/dbapi_sql.py, which
        runs inside SQLAlchemy's greenlet already and needs no cursor object (busy retries as for execute())."""
        connection = self._connection

        def run() -> tuple[list[Any], Any]:
            cursor = connection.execute(operation, parameters)
            try:
                description = cursor.description
                return (cursor.fetchall() if description else []), description
            finally:
                cursor.close()

        return retry_busy(run, self.timeout)

    def commit(self) -> None:
        if self._connection.in_transaction:  # SQLAlchemy also "commits" a connection with nothing open
            retry_busy(self._connection.commit, self.timeout)

    def rollback(self) -> None:
        if self._connection.in_transaction:
            self._connection.rollback()

    def close(self) -> None:
        self._connection.close()

    def terminate(self) -> None:
        self._connection.close()


class InlineDbapi(AsyncAdapt_aiosqlite_dbapi):
    """Pass as `module=` to create_async_engine for a sqlite+aiosqlite URL (aiosqlite's exception classes are
    sqlite3's, so the dialect's error handling is unchanged)."""

    def __init__(self) -> None:
        import aiosqlite

        super().__init__(aiosqlite, sqlite3)
        self.has_stop = False  # no thread to stop: the pool closes connections

    def connect(self, *args: Any, **kw: Any) -> InlineConnection:
        timeout = float(kw.pop("timeout", 5.0))
        kw.pop("async_creator_fn", None)
        kw["check_same_thread"] = False  # the pool may close a connection from the garbage collector's thread
        connection = sqlite3.connect(*args, timeout=0, **kw)
        connection.execute("PRAGMA busy_timeout=0")  # waits are ours (retry_busy), never a blocking sleep
        return InlineConnection(self, connection, timeout)


def inline_dbapi() -> InlineDbapi:
    return InlineDbapi()
