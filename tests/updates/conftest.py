"""Helpers for personal-update tests: a registry CSV built from short rows, chats verified for a pilgrim,
and running a confirmed batch through the update sender."""
from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timezone
from typing import Any

import pytest
from sqlalchemy import select

from bot.broadcast.settings import BroadcastSettings, ChannelRate
from bot.updates.sender import UpdateSender
from bot.updates.settings import UpdateSettings
from storage.db import Database
from storage.models import Conversation, Message, Pilgrim
from storage.registry_import import ImportReport, import_registry

HEADER = "nomor_porsi,nama,nik,tanggal_lahir,jenis_kelamin,kab_kota,provinsi,status,estimasi_tahun,bank,tanggal_daftar\n"
# porsi -> (name, status, estimated year)
BASE = {
    "0300000001": ("SITI AMINAH", "menunggu", 2031),
    "0300000002": ("AHMAD SYUKRI", "menunggu", 2031),
    "0300000003": ("RAHMAT HIDAYAT", "menunggu", 2029),
    "0300000004": ("NURHAYATI", "menunggu", 2030),
    "0300000005": ("ZAINAL ARIFIN", "menunggu", 2032),
    "0300000006": ("YULIA RAHMI", "menunggu", 2033),
}


def registry_csv(rows: dict[str, tuple[str, str, int | None]]) -> bytes:
    lines = [HEADER]
    for n, (porsi, (nama, status, year)) in enumerate(sorted(rows.items()), start=1):
        lines.append(f"{porsi},{nama},1375{n:012d},1960-06-0{n % 9 + 1},P,Kota Bukittinggi,Sumatera Barat,"
                     f"{status},{year or ''},BSI,2012-03-14\n")
    return "".join(lines).encode()


def changed(**updates: tuple[str, int | None]) -> dict[str, tuple[str, str, int | None]]:
    """BASE with some porsi (given as p<last digit>=...) set to (status, year)."""
    rows = dict(BASE)
    for key, (status, year) in updates.items():
        porsi = f"030000000{key[1:]}"
        rows[porsi] = (rows[porsi][0], status, year)
    return rows


async def do_import(db: Database, data: bytes, **kwargs: Any) -> ImportReport:
    async with db.session() as session:
        return await import_registry(session, data, **kwargs)


async def verified_chat(db: Database, porsi: str | None, channel: str = "webchat", user: str = "",
                        **fields: Any) -> int:
    """A chat that passed the birth-date check for `porsi` (None: a chat that never did)."""
    async with db.session() as session:
        pilgrim_id = None
        if porsi is not None:
            pilgrim_id = (await session.execute(select(Pilgrim.id).where(Pilgrim.nomor_porsi == porsi))).scalar_one()
        conv = Conversation(channel=channel, channel_user_id=user or f"{channel}-{porsi}", pilgrim_id=pilgrim_id,
                            **fields)
        session.add(conv)
        await session.commit()
        return conv.id


async def update_messages(db: Database) -> list[Message]:
    async with db.session() as session:
        return list((await session.execute(select(Message).where(Message.sender == "update")
                                           .order_by(Message.id))).scalars())


def fast_updates(**rates: float) -> UpdateSettings:
    chosen = {name: ChannelRate(per_second=r, burst=max(1, int(r))) for name, r in rates.items()}
    return UpdateSettings(rates=chosen or {"webchat": ChannelRate(per_second=1000, burst=1000),
                                           "telegram": ChannelRate(per_second=1000, burst=1000),
                                           "whatsapp": ChannelRate(per_second=1000, burst=1000)})


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
def engine(settings: Any) -> Any:
    from dialogues.engine import DialogueEngine

    return DialogueEngine.load(settings.config.dialogue, settings.config.office, settings.base_dir)


def sender_for(db: Database, engine: Any, channels: tuple[str, ...] = ("webchat", "telegram", "whatsapp"),
               settings: UpdateSettings | None = None, clock: Any = None) -> UpdateSender:
    kwargs = {"clock": clock} if clock is not None else {}
    return UpdateSender(db, engine, list(channels), settings or fast_updates(), BroadcastSettings(), **kwargs)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)
