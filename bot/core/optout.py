"""Opt-out keywords (STOP, BERHENTI, BERHENTI LANGGANAN) and recording an opt-out.

Two ways they take effect, both immediate:
- the pipeline calls `handle_inbound(session, conversation_id, text)` on each inbound message, and
- independently, the broadcast worker looks at each recipient's recent inbound messages right before sending
  (`keyword_optouts`), so a STOP that is stored but not processed yet (another process, a database outage)
  stops the rest of a running broadcast too. A bare STOP sent inside a form is asked about by the dialogue
  ("stop the form or the announcements?"); the pipeline marks it (intent IN_FORM_STOP) and it is skipped here.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.broadcast_models import BroadcastOptout
from storage.models import Conversation, Message
from storage.optouts import record_optout

KEYWORDS = ("STOP", "BERHENTI", "BERHENTI LANGGANAN")
MAX_KEYWORD_CHARS = 40
IN_FORM_STOP = "stop_in_form"  # Message.intent of a bare STOP sent inside a form: not an opt-out by itself


def normalize(text: str) -> str:
    """Upper case, punctuation and repeated spaces removed: ' stop! ' -> 'STOP'."""
    text = unicodedata.normalize("NFKC", text or "")
    return " ".join(re.sub(r"[^\w\s]", " ", text).upper().split())


def is_optout_keyword(text: str) -> str | None:
    """The keyword when the whole message is one of them, else None."""
    if len(text or "") > MAX_KEYWORD_CHARS:
        return None
    word = normalize(text)
    return word if word in KEYWORDS else None


async def handle_inbound(session: AsyncSession, conversation_id: int, text: str) -> bool:
    """Call for each inbound text: records an opt-out for a keyword; True when it was one."""
    keyword = is_optout_keyword(text)
    if keyword is None:
        return False
    await record_optout(session, conversation_id, f"keyword:{keyword}")
    return True


async def keyword_optouts(session: AsyncSession, conversation_ids: Iterable[int]) -> dict[int, str]:
    """Conversations among `conversation_ids` whose inbound messages contain an opt-out keyword sent after
    their last subscribe and not yet recorded. Returns {conversation_id: keyword}."""
    ids = list(conversation_ids)
    if not ids:
        return {}
    rows = (await session.execute(
        select(Message.conversation_id, Message.text, Message.created_at, Conversation.subscribed_at,
               BroadcastOptout.at)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .outerjoin(BroadcastOptout, BroadcastOptout.conversation_id == Message.conversation_id)
        .where(Message.conversation_id.in_(ids), Message.direction == "in",
               or_(Message.intent.is_(None), Message.intent != IN_FORM_STOP),  # asked about in the form
               func.length(Message.text) <= MAX_KEYWORD_CHARS,
               and_(Message.text != ""))
    )).all()
    found: dict[int, str] = {}
    for conversation_id, text, created_at, subscribed_at, optout_at in rows:
        keyword = is_optout_keyword(text)
        if keyword is None or (subscribed_at is not None and created_at <= subscribed_at):
            continue
        if optout_at is not None and optout_at >= created_at:
            continue  # already recorded
        found[conversation_id] = keyword
    return found
