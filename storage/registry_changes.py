"""What a registry import changed for pilgrims already in the registry (status, estimated year), and the
update rows owed to their verified chats. Runs inside the import's transaction, so a change is recorded
exactly when the registry row changes: a crash loses both, a re-import of the same file finds nothing."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Conversation, Pilgrim
from storage.update_models import PilgrimUpdate, RegistryImport

CHUNK = 500
# one import at a time on PostgreSQL (SQLite: the import row written first takes the database's write lock)
IMPORT_LOCK_KEY = 1_500_004


def status_key(status: str | None) -> str:
    """'Lunas Tunda', 'lunas-tunda' and 'lunas_tunda' are one status."""
    return (status or "").strip().lower().replace(" ", "_").replace("-", "_")


@dataclass(frozen=True)
class Change:
    pilgrim_id: int
    old_status: str | None
    new_status: str | None
    old_year: int | None
    new_year: int | None

    def kinds(self) -> list[str]:
        """'status:<new status>' and/or 'estimasi:maju|mundur|baru'; a year removed is not news for the pilgrim."""
        out: list[str] = []
        if status_key(self.old_status) != status_key(self.new_status):
            out.append(f"status:{status_key(self.new_status)}")
        if self.new_year is not None and self.old_year != self.new_year:
            direction = "baru" if self.old_year is None else ("maju" if self.new_year < self.old_year else "mundur")
            out.append(f"estimasi:{direction}")
        elif self.new_year is None and self.old_year is not None:
            out.append("estimasi:kosong")
        return out


NOT_TOLD = ("estimasi:kosong",)


def told(kinds: Iterable[str]) -> list[str]:
    return [k for k in kinds if k not in NOT_TOLD]


async def begin_import(session: AsyncSession, actor: str, source: str, sha256: str) -> RegistryImport:
    """The import's row, written first: it serialises imports, so two never compare against the same old state."""
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": IMPORT_LOCK_KEY})
    row = RegistryImport(actor=actor[:100], source=source[:20], file_sha256=sha256, changes={}, status="none")
    session.add(row)
    await session.flush()
    return row


Current = dict[str, tuple[int, str | None, int | None]]


async def current_values(session: AsyncSession) -> Current:
    """nomor_porsi -> (id, status, estimated year) of the whole registry, read once before the upsert (one
    sequential read; a query per batch of rows was planned as a scan per batch on a table whose statistics do
    not know yet about the rows this transaction inserts: 100,000 rows took minutes on PostgreSQL)."""
    rows = await session.stream(select(Pilgrim.nomor_porsi, Pilgrim.id, Pilgrim.status, Pilgrim.estimasi_tahun)
                                .execution_options(yield_per=5000))
    return {porsi: (pilgrim_id, status, year) async for porsi, pilgrim_id, status, year in rows}


def diff_rows(current: Current, rows: list[dict[str, Any]]) -> list[Change]:
    """Changes of status or estimated year that `rows` (parsed registry rows) make to existing pilgrims."""
    changes: list[Change] = []
    for row in rows:
        before = current.get(row["nomor_porsi"])
        if before is None:
            continue
        change = Change(before[0], before[1], row["status"], before[2], row["estimasi_tahun"])
        if change.kinds():
            changes.append(change)
    return changes


async def record_updates(session: AsyncSession, batch: RegistryImport, changes: list[Change],
                         now: datetime) -> int:
    """Count the changes per kind on the import row and add one pending update per verified chat of each
    changed pilgrim. An unconfirmed update of an earlier import for the same chat is superseded: the new one
    tells the whole change since what the chat last heard. Returns update rows created."""
    counts: Counter[str] = Counter(kind for c in changes for kind in c.kinds())
    batch.changes = dict(sorted(counts.items()))
    created = 0
    by_pilgrim = {c.pilgrim_id: c for c in changes}
    ids = list(by_pilgrim)
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start:start + CHUNK]
        chats = (await session.execute(select(Conversation.id, Conversation.pilgrim_id, Conversation.channel)
                                       .where(Conversation.pilgrim_id.in_(chunk)))).all()
        if not chats:
            continue
        earlier = await _unconfirmed(session, chunk, batch.id)
        values: list[dict[str, Any]] = []
        superseded: list[int] = []
        for conversation_id, pilgrim_id, channel in chats:
            change = by_pilgrim[pilgrim_id]
            waiting = earlier.get((pilgrim_id, conversation_id), [])
            if waiting:
                superseded += [row.id for row in waiting]
                before = waiting[0]
                change = Change(pilgrim_id, before.old_status, change.new_status, before.old_year, change.new_year)
            kinds = told(change.kinds())
            if not kinds:
                continue
            values.append({"import_id": batch.id, "pilgrim_id": pilgrim_id, "conversation_id": conversation_id,
                           "channel": channel, "old_status": change.old_status, "new_status": change.new_status,
                           "old_year": change.old_year, "new_year": change.new_year, "kinds": ",".join(kinds)[:100],
                           "status": "pending", "created_at": now})
        if superseded:
            await session.execute(update(PilgrimUpdate).where(PilgrimUpdate.id.in_(superseded),
                                                              PilgrimUpdate.status == "pending")
                                  .values(status="skipped", skip_reason="superseded", updated_at=now))
        if values:
            await session.execute(PilgrimUpdate.__table__.insert(), values)
            created += len(values)
    batch.status = "preview" if created else "none"
    return created


async def _unconfirmed(session: AsyncSession, pilgrim_ids: list[int], import_id: int
                       ) -> dict[tuple[int, int], list[PilgrimUpdate]]:
    """Unconfirmed updates per (pilgrim, chat) from earlier imports still waiting for confirmation, oldest first."""
    rows = (await session.execute(
        select(PilgrimUpdate).join(RegistryImport, RegistryImport.id == PilgrimUpdate.import_id)
        .where(PilgrimUpdate.pilgrim_id.in_(pilgrim_ids), PilgrimUpdate.status == "pending",
               PilgrimUpdate.import_id != import_id, RegistryImport.status == "preview")
        .order_by(PilgrimUpdate.id))).scalars().all()
    out: dict[tuple[int, int], list[PilgrimUpdate]] = {}
    for row in rows:
        out.setdefault((row.pilgrim_id, row.conversation_id), []).append(row)
    return out
