"""Personal-update batches (one per registry import): what staff see before and after sending, confirmation
(admins only, like a broadcast sent without a second officer: only admins import the registry), discarding."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.broadcast.service import now_utc
from bot.broadcast.settings import BroadcastSettings
from bot.updates.compose import compose
from bot.updates.eligibility import skip_reasons
from storage.models import AuditLog, Message, Pilgrim
from storage.update_models import PilgrimUpdate, RegistryImport

SENT_STATES = ("sent", "delivered", "read")


class UpdateError(Exception):
    """An operation not allowed now; `key` names the staff text (bot/updates/texts.yml)."""

    def __init__(self, key: str, **values: Any) -> None:
        super().__init__(f"{key} {values}" if values else key)
        self.key = key
        self.values = values



@dataclass
class Summary:
    """Counts for staff. Before confirmation `recipients`/`skipped` are what would happen now; after it, what
    happened: `waiting` (confirmed, not yet handed to the outbox), `delivery` (outbox state of those handed over)."""

    batch: RegistryImport
    changes: dict[str, int]  # changed pilgrims per kind, with or without a chat
    by_kind: dict[str, int] = field(default_factory=dict)  # chats to tell per kind
    recipients: dict[str, int] = field(default_factory=dict)  # per channel and 'total'
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> chats
    waiting: int = 0
    delivery: dict[str, int] = field(default_factory=dict)  # outbox status -> messages

    @property
    def total(self) -> int:
        return self.recipients.get("total", 0)

    @property
    def sent(self) -> int:
        return sum(self.delivery.get(s, 0) for s in SENT_STATES)

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())

    def as_dict(self) -> dict[str, Any]:
        return {"import_id": self.batch.id, "status": self.batch.status, "changes": self.changes,
                "by_kind": self.by_kind, "recipients": self.recipients, "skipped": self.skipped,
                "waiting": self.waiting, "delivery": self.delivery, "sent": self.sent}


async def get(session: AsyncSession, import_id: int) -> RegistryImport:
    batch = await session.get(RegistryImport, import_id, populate_existing=True)
    if batch is None:
        raise UpdateError("not_found")
    return batch


async def listing(session: AsyncSession, limit: int = 50) -> list[RegistryImport]:
    return list((await session.execute(select(RegistryImport).order_by(RegistryImport.id.desc()).limit(limit)
                                       )).scalars())


async def summarize(session: AsyncSession, import_id: int, settings: BroadcastSettings,
                    channels: list[str] | None = None) -> Summary:
    batch = await get(session, import_id)
    summary = Summary(batch, dict(batch.changes or {}))
    rows = (await session.execute(select(PilgrimUpdate.id, PilgrimUpdate.channel, PilgrimUpdate.kinds,
                                         PilgrimUpdate.status, PilgrimUpdate.skip_reason, PilgrimUpdate.message_id)
                                  .where(PilgrimUpdate.import_id == import_id))).all()
    live = (await skip_reasons(session, [r.id for r in rows if r.status == "pending"], settings, channels)
            if batch.status == "preview" else {})
    recipients: Counter[str] = Counter()
    skipped: Counter[str] = Counter()
    by_kind: Counter[str] = Counter()
    message_ids: list[int] = []
    for r in rows:
        reason = r.skip_reason if r.status == "skipped" else live.get(r.id)
        if reason:
            skipped[reason] += 1
            continue
        for kind in r.kinds.split(","):
            by_kind[kind] += 1
        if r.status in ("pending", "approved"):
            recipients[r.channel] += 1
        if r.status == "approved":
            summary.waiting += 1
        if r.message_id is not None:
            message_ids.append(r.message_id)
    summary.recipients = {**dict(sorted(recipients.items())), "total": sum(recipients.values())}
    summary.skipped, summary.by_kind = dict(skipped.most_common()), dict(sorted(by_kind.items()))
    summary.delivery = await _delivery(session, message_ids)
    return summary


async def _delivery(session: AsyncSession, message_ids: list[int]) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for start in range(0, len(message_ids), 500):
        chunk = message_ids[start:start + 500]
        for status, n in (await session.execute(select(Message.status, func.count()).where(Message.id.in_(chunk))
                                                .group_by(Message.status))).all():
            counts[status] += n
    gone = len(message_ids) - sum(counts.values())  # removed since (retention, data-subject erasure)
    if gone:
        counts["deleted"] = gone
    return dict(sorted(counts.items()))


async def sample_text(session: AsyncSession, engine: Any, import_id: int) -> str | None:
    """The first pending or approved update of the batch as its chat would read it."""
    row = (await session.execute(
        select(PilgrimUpdate, Pilgrim.nama, Pilgrim.nomor_porsi).join(Pilgrim, Pilgrim.id == PilgrimUpdate.pilgrim_id)
        .where(PilgrimUpdate.import_id == import_id, PilgrimUpdate.status.in_(("pending", "approved", "queued")))
        .order_by(PilgrimUpdate.id).limit(1))).first()
    if row is None:
        return None
    return text_of(engine, row[0], row[1], row[2])


def text_of(engine: Any, u: PilgrimUpdate, nama: str, porsi: str) -> str:
    return compose(engine, u.kinds.split(","), nama=nama, porsi=porsi, old_status=u.old_status,
                   new_status=u.new_status, old_year=u.old_year, new_year=u.new_year)


async def confirm(session: AsyncSession, import_id: int, actor: str, settings: BroadcastSettings, *,
                  admin: bool, expected_total: int | None, channels: list[str] | None = None) -> Summary:
    """Send the batch: updates that may go now become `approved` (the sender hands them to the outbox at the
    configured pace), the others `skipped` with their reason. Refused unless an admin confirms the number of
    chats shown (`expected_total`; None: no check, e.g. the CLI's --yes) and that number is still right."""
    if not admin:
        raise UpdateError("error_admin_only")
    batch = await get(session, import_id)
    if batch.status != "preview":
        raise UpdateError("error_state", status=batch.status)
    before = await summarize(session, import_id, settings, channels)
    if expected_total is not None and expected_total != before.total:
        raise UpdateError("error_changed", total=before.total)
    now = now_utc()
    claimed = await session.execute(update(RegistryImport).where(RegistryImport.id == import_id,
                                                                 RegistryImport.status == "preview")
                                    .values(status="sending", confirmed_by=actor[:100], confirmed_at=now))
    if claimed.rowcount != 1:
        await session.rollback()
        raise UpdateError("error_state", status="changed")
    pending = (await session.execute(select(PilgrimUpdate.id).where(PilgrimUpdate.import_id == import_id,
                                                                    PilgrimUpdate.status == "pending"))).scalars().all()
    reasons = await skip_reasons(session, list(pending), settings, channels)
    await _set(session, [i for i, r in reasons.items() if r is None], "approved", None, now)
    for reason in {r for r in reasons.values() if r}:
        await _set(session, [i for i, r in reasons.items() if r == reason], "skipped", reason, now)
    session.add(AuditLog(actor=actor[:100], action="updates.confirm",
                         detail={"import_id": import_id, "approved": sum(1 for r in reasons.values() if r is None),
                                 "skipped": sum(1 for r in reasons.values() if r)}))
    await session.commit()
    return await summarize(session, import_id, settings, channels)


async def discard(session: AsyncSession, import_id: int, actor: str, *, admin: bool) -> None:
    """Nobody is told about this import's changes."""
    if not admin:
        raise UpdateError("error_admin_only")
    now = now_utc()
    result = await session.execute(update(RegistryImport).where(RegistryImport.id == import_id,
                                                                RegistryImport.status == "preview")
                                   .values(status="discarded", finished_at=now))
    if result.rowcount != 1:
        await session.rollback()
        batch = await get(session, import_id)
        raise UpdateError("error_state", status=batch.status)
    await session.execute(update(PilgrimUpdate).where(PilgrimUpdate.import_id == import_id,
                                                      PilgrimUpdate.status == "pending")
                          .values(status="skipped", skip_reason="discarded", updated_at=now))
    session.add(AuditLog(actor=actor[:100], action="updates.discard", detail={"import_id": import_id}))
    await session.commit()


async def _set(session: AsyncSession, ids: list[int], status: str, reason: str | None, now: datetime) -> None:
    for start in range(0, len(ids), 500):
        await session.execute(update(PilgrimUpdate).where(PilgrimUpdate.id.in_(ids[start:start + 500]),
                                                          PilgrimUpdate.status == "pending")
                              .values(status=status, skip_reason=reason, updated_at=now))
