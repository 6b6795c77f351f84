"""One conversation is processed by one worker at a time, in order.

Within a process an asyncio.Lock per conversation; across processes on PostgreSQL the pipeline also
takes a row lock (SELECT ... FOR UPDATE) on the conversation inside its transaction.
"""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class ConversationLocks:
    def __init__(self) -> None:
        self._locks: dict[int, asyncio.Lock] = {}
        self._users: dict[int, int] = {}

    async def try_hold(self, conversation_id: int) -> bool:
        """Take the conversation's lock only if nobody holds or waits for it (never waits); True when taken,
        then release() gives it back."""
        if conversation_id in self._locks:
            return False
        lock = self._locks[conversation_id] = asyncio.Lock()
        self._users[conversation_id] = 1
        await lock.acquire()  # a new lock: taken at once, without giving the loop up
        return True

    def release(self, conversation_id: int) -> None:
        """Give back a lock taken with try_hold()."""
        self._locks[conversation_id].release()
        self._users[conversation_id] -= 1
        if self._users[conversation_id] == 0:
            del self._users[conversation_id]
            del self._locks[conversation_id]

    @asynccontextmanager
    async def hold(self, conversation_id: int) -> AsyncIterator[None]:
        lock = self._locks.setdefault(conversation_id, asyncio.Lock())
        self._users[conversation_id] = self._users.get(conversation_id, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._users[conversation_id] -= 1
            if self._users[conversation_id] == 0:
                del self._users[conversation_id]
                del self._locks[conversation_id]
