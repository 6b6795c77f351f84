"""Who receives a broadcast: the segment model, its SQL condition, the recipient count, and turning the
audience into delivery rows in batches (idempotent: a cursor on conversation id, advanced in the same
transaction as the rows it covers)."""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import ColumnElement, and_, exists, func, insert, literal, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.broadcast.settings import BroadcastSettings
from storage.broadcast_models import Broadcast, BroadcastDelivery, BroadcastOptout
from storage.models import Case, Conversation, Pilgrim

NOT_BROADCAST_CHANNELS = ("console",)
REJECTED_CASE = "rejected"


class Segment(BaseModel):
    """Filters of an audience; empty lists mean 'any'."""

    model_config = ConfigDict(extra="forbid")

    audience: Literal["all", "subscribers", "linked"] = "all"
    channels: list[str] = Field(default_factory=list)
    estimasi_from: int | None = None
    estimasi_to: int | None = None
    statuses: list[str] = Field(default_factory=list)  # porsi status in the registry
    kab_kota: list[str] = Field(default_factory=list)
    kecamatan: list[str] = Field(default_factory=list)
    case_statuses: list[str] = Field(default_factory=list)  # has a case in one of these states
    # never sent to, whatever the filters (filled from broadcast settings; older saved segments get the defaults)
    exclude_porsi_statuses: list[str] = Field(
        default_factory=lambda: list(BroadcastSettings().excluded_porsi_statuses))
    exclude_case_services: list[str] = Field(
        default_factory=lambda: list(BroadcastSettings().excluded_case_services))

    def needs_pilgrim(self) -> bool:
        return bool(self.estimasi_from or self.estimasi_to or self.statuses or self.kab_kota or self.kecamatan)


def opted_out() -> ColumnElement[bool]:
    """The conversation asked to stop: an opt-out newer than its last subscribe, or an unsubscribe after a
    subscribe (the dialogue engine clears `subscribed` but keeps `subscribed_at`)."""
    c = Conversation
    later_optout = exists().where(BroadcastOptout.conversation_id == c.id,
                                  or_(c.subscribed_at.is_(None), BroadcastOptout.at > c.subscribed_at))
    return or_(later_optout, and_(c.subscribed.is_(False), c.subscribed_at.is_not(None)))


def _lower_in(column: ColumnElement[str | None], values: list[str]) -> ColumnElement[bool]:
    return func.lower(column).in_([v.strip().lower() for v in values if v.strip()])


def condition(segment: Segment) -> ColumnElement[bool]:
    """SQL condition on Conversation (outer-joined to Pilgrim) for the members of the segment."""
    c, p = Conversation, Pilgrim
    parts: list[ColumnElement[bool]] = [c.blocked.is_(False), ~opted_out(),
                                        c.channel.not_in(NOT_BROADCAST_CHANNELS)]
    if segment.audience == "subscribers":
        parts.append(c.subscribed.is_(True))
    elif segment.audience == "linked":
        parts.append(c.pilgrim_id.is_not(None))
    else:
        parts.append(or_(c.subscribed.is_(True), c.pilgrim_id.is_not(None)))
    if segment.channels:
        parts.append(c.channel.in_(segment.channels))
    if segment.estimasi_from:
        parts.append(p.estimasi_tahun >= segment.estimasi_from)
    if segment.estimasi_to:
        parts.append(p.estimasi_tahun <= segment.estimasi_to)
    if segment.statuses:
        parts.append(_lower_in(p.status, segment.statuses))
    if segment.kab_kota:
        parts.append(_lower_in(p.kab_kota, segment.kab_kota))
    if segment.kecamatan:
        parts.append(_lower_in(p.kecamatan, segment.kecamatan))
    own_case = or_(Case.conversation_id == c.id, and_(c.pilgrim_id.is_not(None), Case.pilgrim_id == c.pilgrim_id))
    if segment.case_statuses:
        parts.append(exists().where(own_case, Case.status.in_(segment.case_statuses)))
    elif segment.exclude_case_services:
        parts.append(~exists().where(own_case, Case.service.in_(segment.exclude_case_services),
                                     Case.status != REJECTED_CASE))
    if segment.exclude_porsi_statuses:
        parts.append(or_(c.pilgrim_id.is_(None), p.status.is_(None),
                         ~_normalised(p.status).in_([_norm(v) for v in segment.exclude_porsi_statuses])))
    return and_(true(), *parts) if parts else true()


def _norm(value: str) -> str:
    return " ".join(value.replace("_", " ").lower().split())


def _normalised(column: ColumnElement[str | None]) -> ColumnElement[str]:
    """Lower case, '_' as space, trimmed (registry files write 'lunas_tunda' and 'Lunas Tunda')."""
    return func.trim(func.replace(func.lower(column), "_", " "))


def members(segment: Segment):  # type: ignore[no-untyped-def]
    """SELECT conversation id and channel of the segment's members (ordered by id)."""
    return (select(Conversation.id, Conversation.channel)
            .outerjoin(Pilgrim, Pilgrim.id == Conversation.pilgrim_id)
            .where(condition(segment)))


async def count(session: AsyncSession, segment: Segment) -> dict[str, int]:
    """Recipients per channel now, plus 'total'."""
    sub = members(segment).subquery()
    rows = (await session.execute(select(sub.c.channel, func.count()).group_by(sub.c.channel))).all()
    result = {str(channel): int(n) for channel, n in rows}
    result["total"] = sum(result.values())
    return result


RowsCreated = Callable[[AsyncSession, Broadcast, int, int], Awaitable[None]]


async def materialize_batch(session: AsyncSession, broadcast_id: int, batch_size: int,
                            created_hook: RowsCreated | None = None) -> int:
    """Create delivery rows for the next `batch_size` members and commit; returns rows created.

    The broadcast row is written first, which takes its row lock (PostgreSQL) or the write lock (SQLite), so two
    workers never cover the same range twice; the cursor moves in the same transaction as the rows.
    `created_hook(session, broadcast, after, upto)` sees the new rows (chats after..upto) before the commit."""
    await session.execute(update(Broadcast).where(Broadcast.id == broadcast_id)
                          .values(audience_cursor=Broadcast.audience_cursor))
    broadcast = (await session.execute(select(Broadcast).where(Broadcast.id == broadcast_id)
                                       .execution_options(populate_existing=True))).scalar_one()
    if broadcast.audience_done:
        await session.commit()
        return 0
    segment = Segment.model_validate(broadcast.segment or {})
    cursor = broadcast.audience_cursor
    ids = (await session.execute(members(segment).with_only_columns(Conversation.id)
                                 .where(Conversation.id > cursor).order_by(Conversation.id).limit(batch_size))
           ).scalars().all()
    created = 0
    if ids:
        upto = ids[-1]
        rows = (members(segment).with_only_columns(literal(broadcast_id), Conversation.id, Conversation.channel,
                                                   literal("pending"), literal(0))
                .where(Conversation.id > cursor, Conversation.id <= upto))
        result = await session.execute(insert(BroadcastDelivery).from_select(
            ["broadcast_id", "conversation_id", "channel", "status", "attempts"], rows))
        created = int(result.rowcount or 0)
        if created_hook is not None:
            await created_hook(session, broadcast, cursor, upto)
        broadcast.audience_cursor = upto
        broadcast.total += created
    if len(ids) < batch_size:
        broadcast.audience_done = True
    await session.commit()
    return created

