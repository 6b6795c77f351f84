"""Broadcast operations shared by the back office, the CLI and tests: create, submit (approval), approve,
pause, resume, cancel, preview, test send, progress and the failed list."""
from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.broadcast import tier
from bot.broadcast.audience import Segment, count, members
from bot.broadcast.planner import Limits, Plan
from bot.broadcast.render import Recipient, check_template, render
from bot.broadcast.texts import fill_season, season_fields
from storage.broadcast_models import Broadcast, BroadcastDelivery, StaffChatLink
from storage.models import AuditLog, Conversation, Pilgrim

DONE_STATES = ("sent", "delivered", "read", "failed", "skipped")
RATE_WINDOW_SECONDS = 60


class BroadcastError(Exception):
    """An operation not allowed now; `key` names the staff text, `values` fill it."""

    def __init__(self, key: str, **values: Any) -> None:
        super().__init__(f"{key} {values}" if values else key)
        self.key = key
        self.values = values


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


async def audit(session: AsyncSession, actor: str, action: str, broadcast_id: int, **detail: Any) -> None:
    session.add(AuditLog(actor=actor, action=action, detail={"broadcast_id": broadcast_id, **detail}))


async def create(session: AsyncSession, *, title: str, text: str, segment: Segment, actor: str,
                 staff_id: int | None = None, template_key: str | None = None,
                 attachment: dict[str, Any] | None = None, scheduled_at: datetime | None = None,
                 season: dict[str, str] | None = None) -> Broadcast:
    """A new draft (validated text and segment). The season's placeholders ({tahun_haji}, {tanggal_...}) are
    filled from `season`; one without a value stops the draft (no announcement with a blank date)."""
    title, text = fill_season(title, season or {}), fill_season(text, season or {})
    missing = sorted(set(season_fields(title) + season_fields(text)))
    if missing:
        raise BroadcastError("error_season", names=", ".join("{" + n + "}" for n in missing))
    if not title.strip():
        raise BroadcastError("error_title")
    if not text.strip():
        raise BroadcastError("error_text")
    check_template(text)
    broadcast = Broadcast(title=title.strip()[:200], text=text.strip(), segment=segment.model_dump(),
                          created_by=actor, created_by_staff_id=staff_id, template_key=template_key,
                          attachment=attachment, scheduled_at=scheduled_at, status="draft")
    session.add(broadcast)
    await session.flush()
    await audit(session, actor, "broadcast_create", broadcast.id, title=broadcast.title)
    await session.commit()
    return broadcast


async def get(session: AsyncSession, broadcast_id: int) -> Broadcast:
    broadcast = await session.get(Broadcast, broadcast_id, populate_existing=True)
    if broadcast is None:
        raise BroadcastError("not_found")
    return broadcast


def _require(broadcast: Broadcast, *states: str) -> None:
    if broadcast.status not in states:
        raise BroadcastError("error_state", status=broadcast.status)


async def _transition(session: AsyncSession, broadcast: Broadcast, new: str, actor: str, action: str,
                      **values: Any) -> Broadcast:
    """Change the state only if nobody changed it meanwhile (compare-and-set on the old state)."""
    result = await session.execute(update(Broadcast).where(Broadcast.id == broadcast.id,
                                                           Broadcast.status == broadcast.status)
                                   .values(status=new, updated_at=now_utc(), **values))
    if result.rowcount != 1:
        await session.rollback()
        raise BroadcastError("error_state", status="changed")
    await audit(session, actor, action, broadcast.id, status=new)
    await session.commit()
    return await get(session, broadcast.id)


async def submit(session: AsyncSession, broadcast_id: int, actor: str, require_approval: bool,
                 scheduled_at: datetime | None = None, *, admin: bool = False) -> Broadcast:
    """Send (or schedule) a draft. An admin sends alone; a petugas's broadcast waits for a second officer's
    approval when `require_approval` (the default), and is refused when approval is switched off."""
    broadcast = await get(session, broadcast_id)
    _require(broadcast, "draft")
    if not admin and not require_approval:
        raise BroadcastError("error_admin_only")
    when = scheduled_at or broadcast.scheduled_at
    new = "scheduled" if admin else "pending_approval"
    return await _transition(session, broadcast, new, actor, "broadcast_submit", scheduled_at=when)


async def audience_size(session: AsyncSession, broadcast: Broadcast) -> dict[str, int]:
    """Recipients per channel (and 'total') the broadcast would reach now: shown before sending."""
    return await count(session, Segment.model_validate(broadcast.segment or {}))


async def approve(session: AsyncSession, broadcast_id: int, actor: str) -> Broadcast:
    broadcast = await get(session, broadcast_id)
    _require(broadcast, "pending_approval")
    if actor == broadcast.created_by:
        raise BroadcastError("error_self_approval")
    return await _transition(session, broadcast, "scheduled", actor, "broadcast_approve",
                             approved_by=actor, approved_at=now_utc())


async def pause(session: AsyncSession, broadcast_id: int, actor: str) -> Broadcast:
    broadcast = await get(session, broadcast_id)
    _require(broadcast, "running", "scheduled")
    return await _transition(session, broadcast, "paused", actor, "broadcast_pause")


async def resume(session: AsyncSession, broadcast_id: int, actor: str, limits: Limits | None = None,
                 now: datetime | None = None) -> Broadcast:
    """Continue a paused broadcast; with `limits`, the rows still waiting are planned again from now (a long
    pause must not release several days' WhatsApp batches at once)."""
    broadcast = await get(session, broadcast_id)
    _require(broadcast, "paused")
    new = "running" if broadcast.started_at is not None else "scheduled"
    if limits is not None and broadcast.plan:
        await tier.replan(session, broadcast_id, limits, now or now_utc())
        broadcast = await get(session, broadcast_id)
    return await _transition(session, broadcast, new, actor, "broadcast_resume")


async def cancel(session: AsyncSession, broadcast_id: int, actor: str) -> Broadcast:
    """Stop for good: rows not sent yet become `skipped` (sends in flight still finish)."""
    broadcast = await get(session, broadcast_id)
    _require(broadcast, "draft", "pending_approval", "scheduled", "running", "paused")
    now = now_utc()
    await session.execute(update(BroadcastDelivery).where(BroadcastDelivery.broadcast_id == broadcast_id,
                                                          BroadcastDelivery.status == "pending")
                          .values(status="skipped", error="cancelled", updated_at=now))
    return await _transition(session, broadcast, "cancelled", actor, "broadcast_cancel", finished_at=now)


# preview, test send --------------------------------------------------------------------------------
async def recipient_of(session: AsyncSession, conversation_id: int) -> Recipient | None:
    row = (await session.execute(
        select(Conversation, Pilgrim.nama, Pilgrim.estimasi_tahun, Pilgrim.nomor_porsi)
        .outerjoin(Pilgrim, Pilgrim.id == Conversation.pilgrim_id).where(Conversation.id == conversation_id))).first()
    if row is None:
        return None
    conv = row[0]
    return Recipient(conv.id, conv.channel, conv.channel_user_id, conv.display_name, row[1], row[2], row[3])


async def preview(session: AsyncSession, text: str, segment: Segment,
                  nomor_porsi: str = "") -> tuple[Recipient, str] | None:
    """The message as one recipient of the segment would get it: the one with `nomor_porsi` if given, else the
    first (None: nobody matches)."""
    check_template(text)
    query = members(segment).with_only_columns(Conversation.id)
    if nomor_porsi.strip():
        query = query.where(Pilgrim.nomor_porsi == nomor_porsi.strip())
    first = (await session.execute(query.order_by(Conversation.id).limit(1))).scalar_one_or_none()
    if first is None:
        return None
    recipient = await recipient_of(session, first)
    assert recipient is not None
    return recipient, render(text, recipient)


async def staff_chat(session: AsyncSession, staff_id: int) -> Conversation | None:
    link = await session.get(StaffChatLink, staff_id)
    return None if link is None else await session.get(Conversation, link.conversation_id)


async def link_staff_chat(session: AsyncSession, staff_id: int, conversation_id: int) -> None:
    link = await session.get(StaffChatLink, staff_id)
    if link is None:
        session.add(StaffChatLink(staff_id=staff_id, conversation_id=conversation_id))
    else:
        link.conversation_id = conversation_id
    await session.commit()


# progress ------------------------------------------------------------------------------------------
@dataclass
class Progress:
    broadcast_id: int
    status: str
    total: int
    audience_done: bool
    by_state: dict[str, int] = field(default_factory=dict)
    by_channel: dict[str, dict[str, int]] = field(default_factory=dict)
    rate: float = 0.0  # deliveries finished per second (last minute, else since start)
    eta_seconds: float | None = None

    @property
    def done(self) -> int:
        return sum(self.by_state.get(s, 0) for s in DONE_STATES)

    @property
    def sent(self) -> int:
        return sum(self.by_state.get(s, 0) for s in ("sent", "delivered", "read"))

    @property
    def percent(self) -> float:
        return 100.0 * self.done / self.total if self.total else (100.0 if self.audience_done else 0.0)

    def as_dict(self) -> dict[str, Any]:
        return {"broadcast_id": self.broadcast_id, "status": self.status, "total": self.total,
                "audience_done": self.audience_done, "done": self.done, "sent": self.sent,
                "percent": round(self.percent, 1), "rate_per_second": round(self.rate, 2),
                "eta_seconds": None if self.eta_seconds is None else round(self.eta_seconds),
                "by_state": self.by_state, "by_channel": self.by_channel}


async def progress(session: AsyncSession, broadcast_id: int, now: datetime | None = None) -> Progress:
    broadcast = await get(session, broadcast_id)
    now = now or now_utc()
    rows = (await session.execute(select(BroadcastDelivery.channel, BroadcastDelivery.status, func.count())
                                  .where(BroadcastDelivery.broadcast_id == broadcast_id)
                                  .group_by(BroadcastDelivery.channel, BroadcastDelivery.status))).all()
    result = Progress(broadcast.id, broadcast.status, broadcast.total, broadcast.audience_done)
    for channel, state, n in rows:
        result.by_state[state] = result.by_state.get(state, 0) + n
        result.by_channel.setdefault(channel, {})[state] = n
    if broadcast.status == "running":
        since = now - timedelta(seconds=RATE_WINDOW_SECONDS)
        recent = await session.scalar(select(func.count()).select_from(BroadcastDelivery).where(
            BroadcastDelivery.broadcast_id == broadcast_id, BroadcastDelivery.updated_at >= since,
            BroadcastDelivery.status.in_(DONE_STATES)))
        started = broadcast.started_at or now
        window = min(RATE_WINDOW_SECONDS, max(1.0, (now - started).total_seconds()))
        result.rate = (recent or 0) / window
        remaining = max(0, result.total - result.done)
        result.eta_seconds = remaining / result.rate if result.rate > 0 else None
        if broadcast.plan and len(broadcast.plan.get("batches", [])) > 1:  # later days wait for the tier
            result.eta_seconds = max(0.0, (Plan.from_json(broadcast.plan).finish - now).total_seconds())
    return result


async def failed_rows(session: AsyncSession, broadcast_id: int, chunk: int = 1000
                      ) -> AsyncIterator[tuple[BroadcastDelivery, Conversation, str | None, str | None]]:
    """Failed deliveries with their chat and registry entry, in id order, streamed in chunks."""
    last = 0
    while True:
        rows = (await session.execute(
            select(BroadcastDelivery, Conversation, Pilgrim.nomor_porsi, Pilgrim.nama)
            .join(Conversation, Conversation.id == BroadcastDelivery.conversation_id)
            .outerjoin(Pilgrim, Pilgrim.id == Conversation.pilgrim_id)
            .where(BroadcastDelivery.broadcast_id == broadcast_id, BroadcastDelivery.status == "failed",
                   BroadcastDelivery.id > last)
            .order_by(BroadcastDelivery.id).limit(chunk))).all()
        if not rows:
            return
        for row in rows:
            yield row[0], row[1], row[2], row[3]
        last = rows[-1][0].id


CSV_HEADER = ["delivery_id", "conversation_id", "channel", "channel_user_id", "nomor_porsi", "nama", "attempts",
              "error", "updated_at"]


async def failed_csv_chunks(session: AsyncSession, broadcast_id: int) -> AsyncIterator[str]:
    """The failed list as CSV text, a chunk at a time (header first)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_HEADER)
    n = 0
    async for delivery, conv, porsi, nama in failed_rows(session, broadcast_id):
        writer.writerow([delivery.id, conv.id, delivery.channel, conv.channel_user_id, porsi or "", nama or "",
                         delivery.attempts, _csv_safe(delivery.error or ""),
                         delivery.updated_at.isoformat() if delivery.updated_at else ""])
        n += 1
        if n % 500 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _csv_safe(value: str) -> str:
    """No spreadsheet formula injection from error texts."""
    return "'" + value if value[:1] in ("=", "+", "-", "@") else value


async def list_broadcasts(session: AsyncSession, limit: int = 50) -> list[Broadcast]:
    return list((await session.execute(select(Broadcast).order_by(Broadcast.id.desc()).limit(limit))).scalars())


async def listing(session: AsyncSession, limit: int = 50) -> list[tuple[Broadcast, Progress]]:
    """The latest broadcasts with their counts per state (one grouped query; no rate/ETA)."""
    broadcasts = await list_broadcasts(session, limit)
    ids = [b.id for b in broadcasts]
    counts: dict[int, dict[str, int]] = {i: {} for i in ids}
    if ids:
        rows = (await session.execute(select(BroadcastDelivery.broadcast_id, BroadcastDelivery.status, func.count())
                                      .where(BroadcastDelivery.broadcast_id.in_(ids))
                                      .group_by(BroadcastDelivery.broadcast_id, BroadcastDelivery.status))).all()
        for broadcast_id, state, n in rows:
            counts[broadcast_id][state] = n
    return [(b, Progress(b.id, b.status, b.total, b.audience_done, counts[b.id])) for b in broadcasts]
