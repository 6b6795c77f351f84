"""SQLite: the write transactions of several messages committed together (group commit).

SQLite has one writer at a time; the pipeline's write transactions queue on the writer lock this object owns.
A commit costs more CPU than the rest of a message's statements together, so while several messages are in
flight their transactions share one: the group is ONE connection with an open transaction, and each message
(`member()`) runs in a session joined to it with a savepoint of its own (SQLAlchemy's "create_savepoint" join
mode): a step that fails rolls back its own savepoint only, and the message's "commit" releases the savepoint
(storage/message_path.py's commit()). A message alone in flight has a transaction of its own, as before.

Who commits: statements run inline on the event loop (storage/sqlite_driver.py), so a message's transaction
usually runs without giving the loop up. The member that opened the group, once its savepoint is released,
releases the writer lock and lets the loop run once: every task ready to run meanwhile may join the group. It
then takes the writer lock again (behind any writer already waiting: the members among them join too) and
commits, also when it was cancelled meanwhile; a member finding the group MAX_MEMBERS big or MAX_AGE old, or
leaving with an exception, commits it at once. A member leaves `member()` only after the commit that stored its
message (so the caller answers only then), and gets the exception if that commit failed (nothing of the group
is stored).

Any other writer of the pipeline (`exclusive()`: receive(), the general path, mark_delivered()) commits the
open group before it writes, on its own connection. Writers outside the pipeline (back office, outbox) meet
the group's transaction only as SQLite's file lock, which the driver waits for with busy retries: a group is
never left open while no one waits for the writer.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from storage.db import Database
from storage.dbapi_sql import Statement, fetch

log = logging.getLogger(__name__)

MAX_MEMBERS = 16
MAX_AGE = 0.02  # seconds
_BEGIN_IMMEDIATE = Statement(text("BEGIN IMMEDIATE"))


class _Group:
    """One open transaction and the future its members wait on."""

    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection
        self.members = 0
        self.opened = time.monotonic()
        self.committed: asyncio.Future[None] = asyncio.get_running_loop().create_future()


class GroupCommit:
    """The SQLite writer lock, and the group of message transactions committed together."""

    def __init__(self, db: Database, max_members: int = MAX_MEMBERS, max_age: float = MAX_AGE) -> None:
        self.db = db
        self.max_members = max_members
        self.max_age = max_age
        self._lock = asyncio.Lock()
        self._group: _Group | None = None

    @asynccontextmanager
    async def exclusive(self) -> AsyncIterator[None]:
        """The writer lock for a transaction of its own: the open group is committed first."""
        async with self._lock:
            if self._group is not None:
                await self._commit_open(self._group, locked=True)
            yield

    @asynccontextmanager
    async def member(self, alone: bool = False) -> AsyncIterator[AsyncSession]:
        """A session in the current group (opened if none is), under the writer lock. Its commit() releases its
        savepoint, its rollback() rolls the savepoint back. Leaves after the group's commit (raising its error).
        `alone` (no other message in flight, so none would join): a session and transaction of its own instead."""
        if alone and self._group is None:
            async with self.exclusive(), self.db.session() as session:
                yield session
            return
        async with self._lock:
            opener = self._group is None
            group = self._group or await self._open()
            session = self.db.sessionmaker(bind=group.connection, join_transaction_mode="create_savepoint")
            group.members += 1
            try:
                yield session
            except BaseException:
                await self._close_member(group, session)
                await self._commit_open(group, locked=True)  # the others need not wait for it
                raise
            await self._close_member(group, session)
            if self._group is group and (group.members >= self.max_members
                                         or time.monotonic() - group.opened >= self.max_age):
                await self._commit()
        if opener and not group.committed.done():
            try:
                await asyncio.sleep(0)  # the tasks ready to run now may join the group
            except asyncio.CancelledError:
                await asyncio.shield(self._commit_open(group))
                raise
            await self._commit_open(group)
        elif not group.committed.done():
            await asyncio.shield(group.committed)
        group.committed.result()

    async def _commit_open(self, group: _Group, locked: bool = False) -> None:
        """Commit `group` unless it is done (`locked`: the caller holds the writer lock); an error is the
        members' (their future holds it)."""
        try:
            if locked:
                if self._group is group:
                    await self._commit()
                return
            async with self._lock:
                if self._group is group:
                    await self._commit()
        except Exception:
            pass

    async def _open(self) -> _Group:
        connection = await self.db.engine.connect()
        try:
            await connection.begin()
            # sqlite3 begins no transaction for a SAVEPOINT statement, which then would be the outermost one. The
            # write lock at once: a read snapshot taken before the first write could be stale by then.
            await connection.run_sync(fetch, _BEGIN_IMMEDIATE, {})
        except BaseException:
            await connection.close()
            raise
        self._group = _Group(connection)
        return self._group

    async def _close_member(self, group: _Group, session: AsyncSession) -> None:
        """Close a member's session (its savepoint rolled back unless released); a failure spoils the group."""
        try:
            await session.close()
        except BaseException as exc:
            await self._fail(group, exc)
            raise

    async def _commit(self) -> None:
        """Commit the open group (under the writer lock) and wake its members; on failure they get the error."""
        group, self._group = self._group, None
        if group is None:
            return
        try:
            await group.connection.commit()
        except BaseException as exc:
            await self._fail(group, exc)
            raise
        await group.connection.close()
        group.committed.set_result(None)

    async def _fail(self, group: _Group, exc: BaseException) -> None:
        """The group's transaction is lost: roll it back, close its connection, hand every member the error."""
        if self._group is group:
            self._group = None
        log.error("group commit failed (%d messages not stored): %s", group.members, type(exc).__name__)
        try:
            await group.connection.rollback()
        except Exception:
            pass
        try:
            await group.connection.close()
        except Exception:
            pass
        if not group.committed.done():
            group.committed.set_exception(exc if isinstance(exc, Exception) else RuntimeError("commit interrupted"))
            group.committed.exception()  # retrieved: a group nobody waits on logs no "never retrieved" warning
