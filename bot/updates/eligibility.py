"""Whether a personal update may go to its chat now, and why not. The same exclusions as broadcasts
(bot/broadcast): deceased, cancelled or transferred pilgrims (broadcast.excluded_porsi_statuses), chats with a
pembatalan/pelimpahan case under way (broadcast.excluded_case_services), opted-out and blocked chats; plus a
chat no longer verified for this pilgrim (its link changed or was erased) and a channel this service does not run."""
from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.broadcast.audience import NOT_BROADCAST_CHANNELS, REJECTED_CASE, opted_out
from bot.core.optout import keyword_optouts
from bot.broadcast.settings import BroadcastSettings
from storage.models import Case, Conversation, Pilgrim
from storage.optouts import record_optout
from storage.registry_changes import status_key
from storage.update_models import PilgrimUpdate

# skip reasons, in the order they are checked (staff labels: bot/updates/texts.yml)
REASONS = ("pilgrim_status", "case_in_progress", "not_verified", "opted_out", "blocked", "channel_off",
           "superseded", "discarded")


async def skip_reasons(session: AsyncSession, update_ids: list[int], settings: BroadcastSettings,
                       channels: Collection[str] | None = None, now: datetime | None = None) -> dict[int, str | None]:
    """Reason per update id (None: send). `channels`: the channels this process can deliver to (None: any).
    With `now`, a STOP typed a moment ago and not yet processed is recorded as an opt-out (as broadcasts do)."""
    if not update_ids:
        return {}
    excluded = {status_key(s) for s in settings.excluded_porsi_statuses}
    case_under_way = exists().where(
        or_(Case.conversation_id == Conversation.id, Case.pilgrim_id == PilgrimUpdate.pilgrim_id),
        Case.service.in_(settings.excluded_case_services), Case.status != REJECTED_CASE)
    rows = (await session.execute(
        select(PilgrimUpdate.id, PilgrimUpdate.pilgrim_id, PilgrimUpdate.conversation_id, Conversation.pilgrim_id,
               Conversation.channel, Conversation.blocked, Pilgrim.status, opted_out().label("opted_out"),
               case_under_way.label("case_under_way"))
        .join(Conversation, Conversation.id == PilgrimUpdate.conversation_id)
        .join(Pilgrim, Pilgrim.id == PilgrimUpdate.pilgrim_id)
        .where(PilgrimUpdate.id.in_(update_ids)))).all()
    typed_stop: dict[int, str] = {}
    if now is not None:
        typed_stop = await keyword_optouts(session, [r.conversation_id for r in rows])
        for conversation_id, keyword in typed_stop.items():
            await record_optout(session, conversation_id, f"keyword:{keyword}", now)
    out: dict[int, str | None] = {}
    for r in rows:
        if status_key(r.status) in excluded:
            out[r.id] = "pilgrim_status"
        elif r.case_under_way:
            out[r.id] = "case_in_progress"
        elif r[3] != r.pilgrim_id:
            out[r.id] = "not_verified"
        elif r.opted_out or r.conversation_id in typed_stop:
            out[r.id] = "opted_out"
        elif r.blocked:
            out[r.id] = "blocked"
        elif r.channel in NOT_BROADCAST_CHANNELS or (channels is not None and r.channel not in channels):
            out[r.id] = "channel_off"
        else:
            out[r.id] = None
    return out
