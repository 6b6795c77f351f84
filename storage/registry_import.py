"""Imports the office's porsi registry from CSV (upsert by nomor_porsi)."""
from __future__ import annotations

import asyncio
import csv
import hashlib
import io
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any, Iterable

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Pilgrim
from storage.registry_changes import Change, begin_import, current_values, diff_rows, record_updates

REQUIRED_COLUMNS = ("nomor_porsi", "nama", "nik", "tanggal_lahir", "jenis_kelamin", "kab_kota", "provinsi",
                    "status", "estimasi_tahun", "bank", "tanggal_daftar")
OPTIONAL_COLUMNS = ("kecamatan",)
# rows per INSERT: a batch's statement is built on the event loop, so batches stay small and the loop is
# given back between them (other conversations keep being answered during an import)
BATCH_ROWS = 500


class RegistryFileError(Exception):
    """The file as a whole cannot be read (encoding, header)."""


@dataclass
class RowError:
    line: int
    reason: str


@dataclass
class ImportReport:
    rows_read: int = 0
    imported: int = 0
    errors: list[RowError] = field(default_factory=list)
    committed: bool = False
    import_id: int | None = None  # the RegistryImport row (None when nothing was written)
    changes: dict[str, int] = field(default_factory=dict)  # changed pilgrims per kind ("status:berhak_lunas")
    updates: int = 0  # personal updates owed to verified chats, waiting for confirmation

    @property
    def ok(self) -> bool:
        return not self.errors


def _date(value: str, column: str, required: bool) -> date | None:
    if not value:
        if required:
            raise ValueError(f"{column} kosong")
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{column} bukan tanggal YYYY-MM-DD: {value[:20]!r}") from None


def parse_row(row: dict[str, str]) -> dict[str, Any]:
    """Validate one CSV row and return column values; raises ValueError with the reason."""
    v = {k: (row.get(k) or "").strip() for k in REQUIRED_COLUMNS + OPTIONAL_COLUMNS}
    if not (len(v["nomor_porsi"]) == 10 and v["nomor_porsi"].isdigit()):
        raise ValueError("nomor_porsi harus tepat 10 angka")
    if not (len(v["nik"]) == 16 and v["nik"].isdigit()):
        raise ValueError("nik harus tepat 16 angka")
    for column in ("nama", "kab_kota", "provinsi", "status"):
        if not v[column]:
            raise ValueError(f"{column} kosong")
    gender = v["jenis_kelamin"].upper()
    if gender not in ("L", "P"):
        raise ValueError("jenis_kelamin harus L atau P")
    birth = _date(v["tanggal_lahir"], "tanggal_lahir", required=True)
    registered = _date(v["tanggal_daftar"], "tanggal_daftar", required=False)
    year: int | None = None
    if v["estimasi_tahun"]:
        if not v["estimasi_tahun"].isdigit() or not 1900 <= int(v["estimasi_tahun"]) <= 2200:
            raise ValueError("estimasi_tahun harus tahun 4 angka")
        year = int(v["estimasi_tahun"])
    return {
        "nomor_porsi": v["nomor_porsi"], "nama": v["nama"][:200], "nik": v["nik"], "tanggal_lahir": birth,
        "jenis_kelamin": gender, "kab_kota": v["kab_kota"][:100], "provinsi": v["provinsi"][:100],
        "kecamatan": v["kecamatan"][:100] or None, "status": v["status"][:40].lower(), "estimasi_tahun": year,
        "bank": v["bank"][:100] or None, "tanggal_daftar": registered,
    }


def read_rows(data: bytes) -> tuple[list[tuple[int, dict[str, Any]]], list[RowError], int]:
    """Parse and validate a whole CSV file. Returns (good rows with line numbers, errors, rows read)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RegistryFileError(f"berkas bukan UTF-8 (byte ke-{exc.start})") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        header = [h.strip() for h in (reader.fieldnames or [])]
    except csv.Error as exc:
        raise RegistryFileError(f"header CSV rusak: {exc}") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise RegistryFileError(f"kolom tidak ada di header: {', '.join(missing)}")
    reader.fieldnames = header
    good: list[tuple[int, dict[str, Any]]] = []
    errors: list[RowError] = []
    seen: dict[str, int] = {}
    count = 0
    try:
        for count, row in enumerate(reader, start=1):
            _take_row(reader.line_num, row, good, errors, seen)
    except csv.Error as exc:  # e.g. a field over the csv module's size limit, a NUL byte
        raise RegistryFileError(f"berkas CSV rusak di baris {reader.line_num}: {exc}") from None
    return good, errors, count


def _take_row(line: int, row: dict[str, Any], good: list[tuple[int, dict[str, Any]]], errors: list[RowError],
              seen: dict[str, int]) -> None:
    """Validate one row into `good` or `errors` (a repeated nomor_porsi is an error)."""
    if None in row:
        errors.append(RowError(line, "jumlah kolom lebih banyak dari header"))
        return
    try:
        values = parse_row(row)
    except ValueError as exc:
        errors.append(RowError(line, str(exc)))
        return
    if values["nomor_porsi"] in seen:
        errors.append(RowError(line, f"nomor_porsi ganda (sudah ada di baris {seen[values['nomor_porsi']]})"))
        return
    seen[values["nomor_porsi"]] = line
    good.append((line, values))


Parsed = tuple[list[tuple[int, dict[str, Any]]], list[RowError], int]


BeforeCommit = Callable[[AsyncSession, ImportReport], Awaitable[None]]


async def import_registry(session: AsyncSession, data: bytes, strict: bool = False,
                          parsed: Parsed | None = None, *, actor: str = "cli", source: str = "cli",
                          dry_run: bool = False, before_commit: BeforeCommit | None = None) -> ImportReport:
    """Validate and upsert; good rows in one transaction, or nothing when strict and any row is bad.
    `parsed`: the result of read_rows(data) computed elsewhere (the web service parses in a worker).
    In the same transaction, the changes of status / estimated year of existing pilgrims are recorded with
    one pending personal update per verified chat (storage/registry_changes.py). `before_commit` sees the
    finished transaction (e.g. to count recipients); `dry_run` then rolls everything back."""
    good, errors, count = parsed if parsed is not None else read_rows(data)
    report = ImportReport(rows_read=count, errors=errors)
    if strict and errors:
        return report
    now = datetime.now(timezone.utc)
    batch = await begin_import(session, actor, source, hashlib.sha256(data).hexdigest())
    changes = await _upsert(session, [values for _, values in good], now)
    report.updates = await record_updates(session, batch, changes, now)
    batch.rows_read, batch.imported = count, len(good)
    report.imported = len(good)
    report.changes = dict(batch.changes)
    await session.flush()
    report.import_id = batch.id
    if before_commit is not None:
        await before_commit(session, report)
    if dry_run:
        await session.rollback()
        report.import_id = None
        return report
    await session.commit()
    report.committed = True
    return report


async def _upsert(session: AsyncSession, rows: Iterable[dict[str, Any]], now: datetime) -> list[Change]:
    """Upsert in batches; returns the changes of status / estimated year made to pilgrims already there."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    batch: list[dict[str, Any]] = []
    changes: list[Change] = []
    updatable = [c for c in REQUIRED_COLUMNS + OPTIONAL_COLUMNS if c != "nomor_porsi"] + ["updated_at"]

    stmt = insert(Pilgrim)
    stmt = stmt.on_conflict_do_update(index_elements=[Pilgrim.nomor_porsi],
                                      set_={c: getattr(stmt.excluded, c) for c in updatable})

    current = await current_values(session)

    async def flush() -> None:
        changes.extend(diff_rows(current, batch))
        await session.execute(stmt, batch)
        batch.clear()
        await asyncio.sleep(0)

    for row in rows:
        batch.append({**row, "updated_at": now, "transfer_count": 0})
        if len(batch) >= BATCH_ROWS:
            await flush()
    if batch:
        await flush()
    return changes


async def count_pilgrims(session: AsyncSession) -> int:
    return int((await session.execute(select(func.count(Pilgrim.id)))).scalar_one())
