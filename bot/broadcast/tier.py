"""WhatsApp's messaging tier in the database: who was already messaged outside the customer-service window in
the last 24 hours, the audience split for the planner, the plan stored when a broadcast starts, and each
WhatsApp row's day batch (a later day's rows wait in `next_attempt_at`, so a restarted worker keeps the plan).

Counted as already messaged outside the window (unique chats): broadcast rows counted against the tier and sent
in the last 24 hours; rows of other running broadcasts reserved for the next 24 hours; outbox messages (updates,
notifications, staff replies) sent in the last 24 hours to a chat that had not written in the window before.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.broadcast.audience import Segment, count, members
from bot.broadcast.planner import DAY, WHATSAPP, AudienceSplit, Limits, Plan, plan, window_cutoff
from storage.broadcast_models import Broadcast, BroadcastDelivery
from storage.models import Conversation, Message

SENT_STATES = ("sent", "delivered", "read")
OUTBOX_RETRY_DAYS = 7  # an outbox message may be sent up to a week after it was queued (undeliverable re-queue)
CHUNK = 1000


def limits_for(config: Any) -> Limits:
    """The limits from config.yml: the broadcast rates capped by each platform's throughput (Telegram's bot
    rate, the WhatsApp number's messages per second), and the tier. Web chat has no platform limit (None; the
    worker's own pace for it only spares the database)."""
    caps: dict[str, float] = {"telegram": config.channels.telegram.rate_per_second,
                              WHATSAPP: config.channels.whatsapp.messages_per_second}
    rates: dict[str, float | None] = {}
    for name, cap in caps.items():
        configured = config.broadcast.rates.get(name)
        rates[name] = min(configured.per_second, cap) if configured else cap
    tier = config.channels.whatsapp.messaging_tier
    return Limits(rates, None if tier == "unlimited" else int(tier), config.channels.whatsapp.window_hours)


async def used_people(session: AsyncSession, now: datetime, window_hours: float, *,
                      only: list[int] | None = None, exclude_broadcast: int | None = None) -> set[int]:
    """Chats messaged outside their window in the last 24 hours, or reserved by another running broadcast for
    the next 24 hours (`only`: restrict to these chats)."""
    d = BroadcastDelivery
    since = now - DAY
    restrict = [d.conversation_id.in_(only)] if only is not None else []
    sent = select(d.conversation_id).where(d.channel == WHATSAPP, d.tier_day.is_not(None), d.sent_at >= since,
                                           d.status.in_(SENT_STATES), *restrict)
    reserved = (select(d.conversation_id).join(Broadcast, Broadcast.id == d.broadcast_id)
                .where(d.channel == WHATSAPP, d.tier_day.is_not(None), d.status.in_(("pending", "sending")),
                       Broadcast.status == "running", or_(d.next_attempt_at.is_(None), d.next_attempt_at < now + DAY),
                       *restrict, *([d.broadcast_id != exclude_broadcast] if exclude_broadcast else [])))
    people = set((await session.execute(sent.union(reserved))).scalars())
    return people | await _outbox_people(session, since, window_hours, only)


async def reserved_by_plans(session: AsyncSession, now: datetime, exclude_broadcast: int | None = None) -> int:
    """Tier places other running broadcasts planned for the next 24 hours but have not turned into rows yet
    (rows are created in batches while a broadcast runs; the ones created are counted by `used_people`)."""
    plans = (await session.execute(select(Broadcast.plan).where(
        Broadcast.status == "running", Broadcast.planned_at.is_not(None),
        *([Broadcast.id != exclude_broadcast] if exclude_broadcast else [])))).scalars()
    horizon = now + DAY
    return sum(max(0, b.tier_quota - b.assigned) for data in plans if data and data.get("tier") is not None
               for b in Plan.from_json(data).batches if b.starts_at < horizon)


async def _outbox_people(session: AsyncSession, since: datetime, window_hours: float,
                         only: list[int] | None) -> set[int]:
    m = Message
    restrict = [m.conversation_id.in_(only)] if only is not None else []
    sent = (await session.execute(select(m.conversation_id, m.sent_at).where(
        m.channel == WHATSAPP, m.direction == "out", m.status.in_(SENT_STATES), m.sender != "broadcast",
        m.created_at >= since - timedelta(days=OUTBOX_RETRY_DAYS), m.sent_at >= since, *restrict))).all()
    if not sent:
        return set()
    window = timedelta(hours=window_hours)
    chats = sorted({c for c, _ in sent})
    inbound: dict[int, list[datetime]] = defaultdict(list)
    for i in range(0, len(chats), CHUNK):
        rows = await session.execute(select(m.conversation_id, m.created_at).where(
            m.direction == "in", m.conversation_id.in_(chats[i:i + CHUNK]), m.created_at >= since - window))
        for chat, at in rows:
            inbound[chat].append(at)
    return {chat for chat, at in sent
            if at is not None and not any(at - window <= came <= at for came in inbound.get(chat, ()))}


async def split(session: AsyncSession, segment: Segment, limits: Limits, start: datetime, *,
                exclude_broadcast: int | None = None) -> AudienceSplit:
    """The audience by channel and, for WhatsApp with a tier, how many would be new people for the tier."""
    counts = await count(session, segment)
    per_channel = {name: n for name, n in counts.items() if name != "total"}
    whatsapp = per_channel.get(WHATSAPP, 0)
    if not whatsapp or limits.tier is None:
        return AudienceSplit(per_channel)
    cutoff = window_cutoff(limits, start, whatsapp)
    outside = set((await session.execute(members(segment).with_only_columns(Conversation.id).where(
        Conversation.channel == WHATSAPP,
        or_(Conversation.last_inbound_at.is_(None), Conversation.last_inbound_at <= cutoff)))).scalars())
    used = await used_people(session, start, limits.window_hours, exclude_broadcast=exclude_broadcast)
    reserved = await reserved_by_plans(session, start, exclude_broadcast)
    return AudienceSplit(per_channel, len(outside - used), len(used) + reserved)


async def forecast(session: AsyncSession, broadcast: Broadcast, limits: Limits, now: datetime,
                   at: datetime | None = None) -> Plan:
    """The plan if the broadcast started at `at` or its scheduled time (now, if that has passed)."""
    when = at or broadcast.scheduled_at
    start = max(now, when) if when else now
    segment = Segment.model_validate(broadcast.segment or {})
    audience = await split(session, segment, limits, start, exclude_broadcast=broadcast.id)
    result = plan(audience, limits, start)
    result.window_cutoff = window_cutoff(limits, start, result.per_channel.get(WHATSAPP, 0))
    return result


async def start_plan(session: AsyncSession, broadcast_id: int, limits: Limits, now: datetime) -> None:
    """Make and store the plan of a broadcast that starts sending now (once: a second worker keeps the first)."""
    broadcast = await session.get(Broadcast, broadcast_id, populate_existing=True)
    if broadcast is None or broadcast.planned_at is not None:
        return
    result = await forecast(session, broadcast, limits, now)
    await session.execute(update(Broadcast).where(Broadcast.id == broadcast_id, Broadcast.planned_at.is_(None))
                          .values(plan=result.to_json(), planned_at=now))
    await session.commit()


async def assign_rows(session: AsyncSession, broadcast: Broadcast, after: int, upto: int) -> None:
    """Give the WhatsApp rows just created for chats (after, upto] their day batch; the caller holds the
    broadcast row's lock and commits. Rows of a later day wait until its start."""
    if not broadcast.plan or broadcast.plan.get("tier") is None:
        return
    stored = Plan.from_json(broadcast.plan)
    cutoff = stored.window_cutoff or stored.start
    d = BroadcastDelivery
    rows = (await session.execute(
        select(d.id, d.conversation_id).join(Conversation, Conversation.id == d.conversation_id).where(
            d.broadcast_id == broadcast.id, d.channel == WHATSAPP, d.conversation_id > after,
            d.conversation_id <= upto,
            or_(Conversation.last_inbound_at.is_(None), Conversation.last_inbound_at <= cutoff))
        .order_by(d.id))).all()
    if not rows:
        return
    used = await used_people(session, stored.start, stored.window_hours, only=[c for _, c in rows],
                             exclude_broadcast=broadcast.id)
    counted = [row_id for row_id, chat in rows if chat not in used]
    again = [(row_id, 0) for row_id, chat in rows if chat in used]  # no new person; the message renews its place
    days = stored.assign(len(counted))
    await _set_days(session, broadcast.id, stored, again + list(zip(counted, days)))
    broadcast.plan = stored.to_json()


async def _set_days(session: AsyncSession, broadcast_id: int, stored: Plan, pairs: list[tuple[int, int]]) -> None:
    by_day: dict[int, list[int]] = defaultdict(list)
    for row_id, day in pairs:
        by_day[day].append(row_id)
    starts = {b.day: b.starts_at for b in stored.batches}
    d = BroadcastDelivery
    for day, ids in by_day.items():
        wait = starts[day] if starts[day] > stored.start else None
        for i in range(0, len(ids), CHUNK):
            await session.execute(update(d).where(d.broadcast_id == broadcast_id, d.id.in_(ids[i:i + CHUNK]))
                                  .values(tier_day=day, next_attempt_at=wait)
                                  .execution_options(synchronize_session=False))


async def replan(session: AsyncSession, broadcast_id: int, limits: Limits, now: datetime) -> None:
    """After a pause: the tier-counted rows still waiting are planned again from now (with today's use of the
    tier), so a long pause never releases several days' batches at once. Commits."""
    broadcast = await session.get(Broadcast, broadcast_id, populate_existing=True)
    if broadcast is None or not broadcast.plan:
        return
    d = BroadcastDelivery
    pending = (await session.execute(select(d.channel, d.id, d.tier_day).where(
        d.broadcast_id == broadcast_id, d.status == "pending").order_by(d.id))).all()
    per_channel: dict[str, int] = defaultdict(int)
    for channel, _, _ in pending:
        per_channel[channel] += 1
    counted = [row_id for _, row_id, day in pending if day is not None]
    used = len(await used_people(session, now, limits.window_hours, exclude_broadcast=broadcast_id))
    used += await reserved_by_plans(session, now, broadcast_id)
    new = plan(AudienceSplit(dict(per_channel), len(counted), used), limits, now)
    new.window_cutoff = Plan.from_json(broadcast.plan).window_cutoff
    await _set_days(session, broadcast_id, new, list(zip(counted, new.assign(len(counted)))))
    broadcast.plan = new.to_json()
    await session.commit()
