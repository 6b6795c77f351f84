"""Porsi registry CSV import: validation report, upsert, strict mode, bad files."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from storage.db import Database
from storage.models import Pilgrim
from storage.registry_import import RegistryFileError, import_registry

HEADER = "nomor_porsi,nama,nik,tanggal_lahir,jenis_kelamin,kab_kota,provinsi,status,estimasi_tahun,bank,tanggal_daftar\n"
GOOD = "0312345678,SITI AMINAH,1375014506600001,1960-06-05,P,Kota Bukittinggi,Sumatera Barat,menunggu,2031,BSI,2012-03-14\n"
GOOD2 = "0312345679,AHMAD,1375012001550002,1955-01-20,L,Kota Bukittinggi,Sumatera Barat,menunggu,,,\n"
BAD_PORSI = "03123,BUDI,1375012001550003,1955-01-20,L,Kota Bukittinggi,Sumatera Barat,menunggu,,,\n"
BAD_DATE = "0312345670,BUDI,1375012001550003,1955-13-20,L,Kota Bukittinggi,Sumatera Barat,menunggu,,,\n"


@pytest.fixture
async def db(database_url: str):  # type: ignore[no-untyped-def]
    database = Database(database_url)
    yield database
    await database.dispose()


async def all_pilgrims(db: Database) -> list[Pilgrim]:
    async with db.session() as session:
        return list((await session.execute(select(Pilgrim).order_by(Pilgrim.nomor_porsi))).scalars())


async def test_good_rows_imported_bad_rows_reported(db: Database) -> None:
    data = (HEADER + GOOD + BAD_PORSI + GOOD2 + BAD_DATE).encode()
    async with db.session() as session:
        report = await import_registry(session, data)
    assert report.imported == 2 and report.committed
    assert [(e.line, e.reason) for e in report.errors] == [
        (3, "nomor_porsi harus tepat 10 angka"),
        (5, "tanggal_lahir bukan tanggal YYYY-MM-DD: '1955-13-20'"),
    ]
    pilgrims = await all_pilgrims(db)
    assert [p.nomor_porsi for p in pilgrims] == ["0312345678", "0312345679"]
    assert pilgrims[0].estimasi_tahun == 2031 and pilgrims[1].estimasi_tahun is None


async def test_strict_imports_nothing_when_any_row_is_bad(db: Database) -> None:
    async with db.session() as session:
        report = await import_registry(session, (HEADER + GOOD + BAD_PORSI).encode(), strict=True)
    assert not report.committed and report.imported == 0
    assert await all_pilgrims(db) == []


async def test_reimport_updates_by_nomor_porsi(db: Database) -> None:
    async with db.session() as session:
        await import_registry(session, (HEADER + GOOD).encode())
    updated = GOOD.replace("menunggu,2031", "berhak lunas,2027")
    async with db.session() as session:
        await import_registry(session, (HEADER + updated).encode())
    pilgrims = await all_pilgrims(db)
    assert len(pilgrims) == 1
    assert (pilgrims[0].status, pilgrims[0].estimasi_tahun) == ("berhak lunas", 2027)


async def test_duplicate_in_file_and_extra_columns(db: Database) -> None:
    data = (HEADER + GOOD + GOOD + GOOD2.rstrip("\n") + ",extra\n").encode()
    async with db.session() as session:
        report = await import_registry(session, data)
    reasons = [e.reason for e in report.errors]
    assert reasons == ["nomor_porsi ganda (sudah ada di baris 2)", "jumlah kolom lebih banyak dari header"]


async def test_unreadable_files(db: Database) -> None:
    async with db.session() as session:
        with pytest.raises(RegistryFileError, match="UTF-8"):
            await import_registry(session, (HEADER + GOOD).encode() + b"\xff\xfe")
        with pytest.raises(RegistryFileError, match="kolom tidak ada di header: nik"):
            await import_registry(session, b"nomor_porsi,nama\n0312345678,X\n")
