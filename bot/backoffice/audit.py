"""Writes the audit log: who did what, when, to which case or conversation."""
from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import AuditLog, StaffUser


def staff_actor(staff: StaffUser) -> str:
    return f"staff:{staff.username}"


def record(session: AsyncSession, actor: str, action: str, case_id: int | None = None,
           conversation_id: int | None = None, **detail: Any) -> None:
    """Add an audit row to the session; it commits with the action it describes."""
    session.add(AuditLog(actor=actor[:100], action=action[:60], case_id=case_id, conversation_id=conversation_id,
                         detail={k: v for k, v in detail.items() if v is not None}))
