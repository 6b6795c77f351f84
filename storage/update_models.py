"""Proactive personal updates (issue 15): a registry import and, per linked chat of each pilgrim whose status
or estimated year it changed, one update row. Imported at the end of storage/models.py so Alembic sees them."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, IdType, utcnow

# RegistryImport.status: preview (waiting for staff to confirm) -> sending -> done | discarded;
# none: the import changed nothing a chat is told about
IMPORT_STATES = ("preview", "sending", "done", "discarded", "none")
# PilgrimUpdate.status: pending (not confirmed) -> approved (confirmed, waiting for its turn) -> queued (an
# outbox message exists: message_id) | skipped (skip_reason)
UPDATE_STATES = ("pending", "approved", "queued", "skipped")


class RegistryImport(Base):
    """One registry import (CLI or back office) and what it changed."""

    __tablename__ = "registry_imports"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    actor: Mapped[str] = mapped_column(String(100))  # staff:<username> | cli
    source: Mapped[str] = mapped_column(String(20))  # cli | backoffice
    file_sha256: Mapped[str] = mapped_column(String(64))
    rows_read: Mapped[int] = mapped_column(Integer, default=0)
    imported: Mapped[int] = mapped_column(Integer, default=0)
    # changed pilgrims per kind of change ({"status:berhak_lunas": 12, "estimasi:maju": 3, ...}), with or without chat
    changes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(20), default="preview", index=True)
    confirmed_by: Mapped[str | None] = mapped_column(String(100))
    confirmed_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PilgrimUpdate(Base):
    """One personal message owed to one verified chat about one pilgrim's change in one import (the unique key:
    a retried import or confirmation never makes a second one)."""

    __tablename__ = "pilgrim_updates"
    __table_args__ = (
        UniqueConstraint("import_id", "pilgrim_id", "conversation_id", name="uq_pilgrim_updates_change"),
        Index("ix_pilgrim_updates_due", "status", "channel", "id"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    import_id: Mapped[int] = mapped_column(ForeignKey("registry_imports.id"), index=True)
    pilgrim_id: Mapped[int] = mapped_column(ForeignKey("pilgrims.id"), index=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), index=True)
    channel: Mapped[str] = mapped_column(String(20))
    old_status: Mapped[str | None] = mapped_column(String(40))
    new_status: Mapped[str | None] = mapped_column(String(40))
    old_year: Mapped[int | None] = mapped_column(Integer)
    new_year: Mapped[int | None] = mapped_column(Integer)
    kinds: Mapped[str] = mapped_column(String(100))  # "status:berhak_lunas,estimasi:maju"
    status: Mapped[str] = mapped_column(String(20), default="pending")
    skip_reason: Mapped[str | None] = mapped_column(String(40))
    message_id: Mapped[int | None] = mapped_column(IdType)  # the outbox row (no FK: retention deletes messages)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column()
