"""Fixtures for broadcast tests: a database, fake channel plug-ins that record sends, a fake clock and
helpers to create chats linked to registry pilgrims."""
from __future__ import annotations

import os
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest

from bot.broadcast.settings import BroadcastSettings, ChannelRate
from bot.core.channel import SendResult
from storage.db import Database
from storage.models import Case, Conversation, Message, Pilgrim

PG = bool(os.environ.get("HAJIBOT_TEST_DATABASE_URL"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip = pytest.mark.skip(reason="needs PostgreSQL (set HAJIBOT_TEST_DATABASE_URL)")
    for item in items:
        if "postgres" in item.keywords and not PG:
            item.add_marker(skip)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "postgres: needs PostgreSQL (HAJIBOT_TEST_DATABASE_URL)")


class FakeClock:
    """Time that moves only when told."""

    def __init__(self) -> None:
        self.now = datetime(2022, 5, 20, 8, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class FakeChannel:
    """A push channel plug-in that records every send; `script[user_id]` lists results to return first."""

    name: str
    push: bool = True
    sends: list[tuple[str, str]] = field(default_factory=list)
    script: dict[str, list[SendResult]] = field(default_factory=dict)
    on_send: Callable[[str], None] | None = None

    def setup_routes(self, app: Any) -> None: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def send(self, conversation: Conversation, message: Message) -> SendResult:
        user = conversation.channel_user_id
        queued = self.script.get(user)
        if queued:
            result = queued.pop(0)
            if not result.ok:
                return result
        self.sends.append((user, message.text))
        if self.on_send:
            self.on_send(user)
        return SendResult(ok=True, provider_message_id=f"p-{len(self.sends)}")

    def per_user(self) -> Counter[str]:
        return Counter(user for user, _ in self.sends)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    try:
        yield database
    finally:
        await database.dispose()


def fast_settings(**overrides: Any) -> BroadcastSettings:
    rates = {"telegram": ChannelRate(per_second=10_000, burst=10_000),
             "whatsapp": ChannelRate(per_second=10_000, burst=10_000)}
    return BroadcastSettings(**{"rates": rates, "max_in_flight": 50, "batch_size": 100, **overrides})


async def add_chats(db: Database, n: int, channel: str = "telegram", start: int = 1, subscribed: bool = True,
                    linked: bool = False, estimasi: int | None = 2031, status: str = "menunggu",
                    kab_kota: str = "Kota Bukittinggi", kecamatan: str = "Guguk Panjang",
                    last_inbound_at: datetime | None = None) -> list[int]:
    """`n` chats (user ids u<start>...), optionally each linked to a new registry pilgrim."""
    ids: list[int] = []
    async with db.session() as session:
        for i in range(start, start + n):
            pilgrim_id = None
            if linked:
                pilgrim = Pilgrim(nomor_porsi=f"03{i:08d}", nama=f"JAMAAH NOMOR {i}", nik=f"1375{i:012d}",
                                  tanggal_lahir=date(1960, 1, 1), jenis_kelamin="L", kab_kota=kab_kota,
                                  provinsi="Sumatera Barat", kecamatan=kecamatan, status=status,
                                  estimasi_tahun=estimasi)
                session.add(pilgrim)
                await session.flush()
                pilgrim_id = pilgrim.id
            conv = Conversation(channel=channel, channel_user_id=f"u{i}", subscribed=subscribed,
                                subscribed_at=datetime(2022, 1, 1, tzinfo=timezone.utc) if subscribed else None,
                                pilgrim_id=pilgrim_id, display_name=f"Pengguna {i}", last_inbound_at=last_inbound_at)
            session.add(conv)
            await session.flush()
            ids.append(conv.id)
        await session.commit()
    return ids


async def add_case(db: Database, conversation_id: int, status: str, ticket: str) -> None:
    async with db.session() as session:
        session.add(Case(ticket=ticket, service="pembatalan", status=status, conversation_id=conversation_id))
        await session.commit()
