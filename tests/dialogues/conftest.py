"""Fixtures for dialogue tests: a real SQLite database (Alembic schema), the real flow files, a chat driver."""
from __future__ import annotations

import asyncio
import io
import shutil
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageFilter
from sqlalchemy import select

from dialogues.engine import DialogueEngine
from dialogues.replies import Reply
from dialogues.settings import DialogueSettings, OfficeSettings
from dialogues.turn import Turn
from storage.db import Database
from storage.files import FileStore, StoredFile
from storage.migrate import upgrade
from storage.models import Conversation, Pilgrim

ROOT = Path(__file__).resolve().parents[2]
OFFICE = OfficeSettings(name="Kantor Kemenag Kota Bukittinggi", kab_kota="Kota Bukittinggi",
                        provinsi="Sumatera Barat", address="Jl. Contoh 1", phone="(0752) 000000",
                        hours="Senin-Jumat 08.00-16.00 WIB")
# A Tuesday, 10:00 in Jakarta: the office is open.
NOW = datetime(2026, 11, 24, 3, 0, tzinfo=timezone.utc)

PILGRIMS = [
    dict(nomor_porsi="0312345678", nama="Siti Aminah Rahman", nik="1375014305600002", tanggal_lahir=date(1960, 5, 3),
         jenis_kelamin="P", kab_kota="Kota Bukittinggi", provinsi="Sumatera Barat", status="aktif",
         estimasi_tahun=2041, bank="Bank Syariah Indonesia", transfer_count=0),
    dict(nomor_porsi="0312345679", nama="Ahmad Fauzi", nik="1375010101550001", tanggal_lahir=date(1955, 1, 1),
         jenis_kelamin="L", kab_kota="Kota Bukittinggi", provinsi="Sumatera Barat", status="aktif",
         estimasi_tahun=2039, bank="Bank Muamalat", transfer_count=0),
    dict(nomor_porsi="0312345680", nama="Rahmat Hidayat", nik="1375011212500003", tanggal_lahir=date(1950, 12, 12),
         jenis_kelamin="L", kab_kota="Kota Bukittinggi", provinsi="Sumatera Barat", status="aktif",
         estimasi_tahun=2038, bank="Bank Nagari Syariah", transfer_count=1),
    dict(nomor_porsi="0312345681", nama="Nurhayati", nik="1375015506650004", tanggal_lahir=date(1965, 6, 15),
         jenis_kelamin="P", kab_kota="Kota Bukittinggi", provinsi="Sumatera Barat", status="batal",
         estimasi_tahun=None, bank="Bank Syariah Indonesia", transfer_count=0),
]


def make_photo(sharp: bool = True, size: tuple[int, int] = (1200, 900), seed: int = 1) -> bytes:
    """A document-like photo: black 'text' strokes on white; blurred heavily when not sharp."""
    rng = np.random.default_rng(seed)
    a = np.full((size[1], size[0]), 235, dtype=np.uint8)
    for _ in range(400):
        y, x = rng.integers(0, size[1] - 12), rng.integers(0, size[0] - 60)
        a[y:y + 4, x:x + rng.integers(10, 60)] = 20
    img = Image.fromarray(a).convert("RGB")
    if not sharp:
        img = img.filter(ImageFilter.GaussianBlur(12))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def make_pdf(pages: int = 2) -> bytes:
    from pypdf import PdfWriter

    w = PdfWriter()
    for _ in range(pages):
        w.add_blank_page(595, 842)
    buf = io.BytesIO()
    w.write(buf)
    return buf.getvalue()


class Chat:
    """Drives the engine like the pipeline does: one transaction per turn."""

    def __init__(self, db: Database, engine: DialogueEngine, store: FileStore, user: str = "u1") -> None:
        self.db, self.engine, self.store, self.user = db, engine, store, user
        self.now = NOW
        self.log: list[tuple[str, list[Reply]]] = []

    async def send(self, text: str = "", files: list[bytes] | None = None, parse: dict[str, Any] | None = None,
                   now: datetime | None = None) -> list[Reply]:
        stored: list[StoredFile] = [await self.store.put(f, "x.jpg") for f in (files or [])]
        async with self.db.session() as s, s.begin():
            conv = (await s.execute(select(Conversation).where(
                Conversation.channel == "web", Conversation.channel_user_id == self.user))).scalar_one_or_none()
            if conv is None:
                conv = Conversation(channel="web", channel_user_id=self.user, state={}, mode="bot")
                s.add(conv)
                await s.flush()
            turn = Turn(conversation=conv, channel="web", text=text, parse=parse or {}, files=stored,
                        now=now or self.now)
            replies = await self.engine.step(s, self.store, turn)
        self.log.append((text, replies))
        return replies

    async def say(self, text: str = "", **kw: Any) -> str:
        replies = await self.send(text, **kw)
        return "\n".join(r.text + "".join(f"\n  ({i}) {c}" for i, c in enumerate(r.choices, 1)) for r in replies)

    async def conversation(self) -> Conversation:
        async with self.db.session() as s:
            return (await s.execute(select(Conversation).where(Conversation.channel_user_id == self.user))).scalar_one()


@pytest.fixture
def engine() -> DialogueEngine:
    return DialogueEngine.load(DialogueSettings(), OFFICE, ROOT)


@pytest.fixture
async def db(database_url: str):
    """The shared migrated test database (SQLite, or PostgreSQL when HAJIBOT_TEST_DATABASE_URL is set)."""
    database = Database(database_url)
    async with database.session() as s, s.begin():
        for p in PILGRIMS:
            s.add(Pilgrim(**p))
    yield database
    await database.dispose()


@pytest.fixture
def store(tmp_path: Path) -> FileStore:
    return FileStore(tmp_path / "files")


@pytest.fixture
def chat(db: Database, engine: DialogueEngine, store: FileStore) -> Chat:
    return Chat(db, engine, store)


def transcript(chat: Chat) -> str:
    lines = []
    for text, replies in chat.log:
        lines.append(f"> {text}")
        for r in replies:
            lines.append("  " + r.text.replace("\n", "\n  ") + (f"  {r.choices}" if r.choices else ""))
    return "\n".join(lines)
