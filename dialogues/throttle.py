"""Failure budgets for identity checks (porsi, ticket): who may try again, and when.

A failed check (wrong birth date / NIK digits, or a porsi number or ticket that does not exist, which looks
exactly the same from outside) is stored as a `VerificationAttempt` with the conversation, the requester key
and the subject (porsi number or ticket). Before a check, `wait_before_attempt` says how long this requester
must wait; zero means "go ahead". Nothing is ever locked per subject.

Scopes and why:

- **Own** (the conversation, and the channel user: Telegram user id, WhatsApp phone): the requester's own
  failures. `OWN.free` failures in the window are free, then each further attempt waits
  `OWN.first * 2**(extra failures)` after the last failure, up to `OWN.cap`. Only this requester's failures
  count, so a stranger cannot slow a pilgrim down through this scope.
- **Client IP** (web chat only; the channel adapter computes it, honouring X-Forwarded-For only from the
  configured `security.trusted_proxies`, and hashes it): the one *shared* scope. Mobile carriers put many
  people behind one address (CGNAT), so it is generous (`SHARED_IP.free`) and its delay is capped short
  (`SHARED_IP.cap`): a neighbour on the same address can at worst delay a pilgrim by that much, never lock
  them out; Telegram and WhatsApp users are never affected by it. Without it one address could open
  unlimited fresh web-chat sessions and guess on.
- **Subject** (one porsi number or ticket, across requesters): when `SUBJECT_ALERT` failures hit one subject
  in the window, someone is guessing at it from several places. Then a requester that has itself failed on
  this subject gets only a cooldown (`UNDER_ATTACK`: first failure free, then 10 min, doubling) before its
  next try on it. A requester with no failure on the subject - the real pilgrim typing the birth date for
  the first time - is never delayed by this: the ceiling slows the guessers, it does not lock the porsi.
- **Global** (all failures in the last hour): above `GLOBAL_CEILING` the service is under a spread-out attack.
  Every requester's own allowance drops to `UNDER_ATTACK` (first failure free, then cooldowns) and the
  shared IP allowance to `SHARED_IP_UNDER_ATTACK`; again a requester with no failures is not delayed.

A success never resets a budget (an attacker could verify their own porsi to reset it); failures leave the
window by age. The answer to a throttled requester is the same for every subject, known or not.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Select, bindparam, func, insert, literal_column, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from storage.models import VerificationAttempt

WINDOW = timedelta(hours=24)
GLOBAL_WINDOW = timedelta(hours=1)
SUBJECT_ALERT = 10
GLOBAL_CEILING = 300
SHARED_PREFIXES = ("ip:",)  # requester keys that many people may share


@dataclass(frozen=True)
class Rule:
    """`free` failures without delay, then `first` after the last failure, doubling per failure, up to `cap`."""

    free: int
    first: timedelta
    cap: timedelta

    def wait(self, failures: int, last: datetime | None, now: datetime) -> timedelta:
        if failures < self.free or last is None:
            return timedelta(0)
        delay = min(self.first * 2 ** min(failures - self.free, 20), self.cap)
        return max(timedelta(0), _aware(last) + delay - now)


OWN = Rule(free=5, first=timedelta(minutes=5), cap=timedelta(hours=24))
SHARED_IP = Rule(free=20, first=timedelta(minutes=1), cap=timedelta(minutes=30))
UNDER_ATTACK = Rule(free=1, first=timedelta(minutes=10), cap=timedelta(hours=24))
SHARED_IP_UNDER_ATTACK = Rule(free=3, first=timedelta(minutes=2), cap=timedelta(minutes=30))


@dataclass(frozen=True)
class Requester:
    """Who is asking: the conversation and, when the channel gives one, a requester key
    ('ip:<hash>' for web chat, 'tg:<user id>', 'wa:<phone>')."""

    conversation_id: int
    key: str | None = None

    @property
    def shared(self) -> bool:
        return bool(self.key) and self.key.startswith(SHARED_PREFIXES)  # type: ignore[union-attr]


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


_ATTEMPT = VerificationAttempt


def _failed(scope: str, since: str, *where: Any) -> Select[Any]:
    return select(literal_column(f"'{scope}'"), func.count(), func.max(_ATTEMPT.at)).where(
        _ATTEMPT.success.is_(False), _ATTEMPT.at >= bindparam(since), *where)


# Every failure count a check may need, in one statement built once; each part is answered from its own partial
# index of failures only (storage/models.py), so neither successes nor a flood of failures elsewhere make it scan
# more.
_SUBJECT, _CONVERSATION, _REQUESTER = (_ATTEMPT.subject == bindparam("subject"),
                                       _ATTEMPT.conversation_id == bindparam("conversation_id"),
                                       _ATTEMPT.requester == bindparam("requester"))
_FAILURES = union_all(
    _failed("global", "global_since"),
    _failed("subject", "since", _SUBJECT),
    _failed("conversation", "since", _CONVERSATION),
    _failed("requester", "since", _REQUESTER),
    _failed("conversation_subject", "since", _CONVERSATION, _SUBJECT),
    _failed("requester_subject", "since", _REQUESTER, _SUBJECT),
)


_INSERT_ATTEMPT = insert(VerificationAttempt.__table__)


def _failures(session: Session, now: datetime, who: Requester, subject: str
              ) -> dict[str, tuple[int, datetime | None]]:
    """Failures and the last failure's time per scope: global (GLOBAL_WINDOW), the rest within WINDOW."""
    if session.new:  # attempts added with record_attempt() count, as the ORM's autoflush would make them
        session.flush()
    rows = session.connection().execute(_FAILURES, {
        "global_since": now - GLOBAL_WINDOW, "since": now - WINDOW, "subject": subject,
        "conversation_id": who.conversation_id, "requester": who.key}).all()
    return {scope: (int(count or 0), last) for scope, count, last in rows}


async def wait_before_attempt(session: AsyncSession, now: datetime, who: Requester, subject: str) -> timedelta:
    """How long `who` must wait before checking an answer for `subject`; zero when it may go ahead."""
    failed = await session.run_sync(_failures, now, who, subject)
    under_attack = failed["global"][0] >= GLOBAL_CEILING
    subject_alert = failed["subject"][0] >= SUBJECT_ALERT
    scopes = [("conversation", False)] + ([("requester", who.shared)] if who.key else [])
    waits = [timedelta(0)]
    for scope, shared in scopes:
        failures, last = failed[scope]
        if shared:
            waits.append((SHARED_IP_UNDER_ATTACK if under_attack else SHARED_IP).wait(failures, last, now))
        else:
            waits.append(OWN.wait(failures, last, now))
            if under_attack:
                waits.append(UNDER_ATTACK.wait(failures, last, now))
        if subject_alert:
            on_subject, last_on_subject = failed[f"{scope}_subject"]
            waits.append(UNDER_ATTACK.wait(on_subject, last_on_subject, now))
    return max(waits)


def _attempt(now: datetime, who: Requester, subject: str, success: bool, nomor_porsi: str) -> dict[str, Any]:
    return {"conversation_id": who.conversation_id, "requester": who.key, "subject": subject[:40],
            "nomor_porsi": nomor_porsi[:10], "success": success, "at": now}


def record_attempt(session: AsyncSession, now: datetime, who: Requester, subject: str, success: bool,
                   nomor_porsi: str = "") -> None:
    """Add one check to the session (flushed with it; the caller commits). For seeding many at once."""
    session.add(VerificationAttempt(**_attempt(now, who, subject, success, nomor_porsi)))


async def store_attempt(session: AsyncSession, now: datetime, who: Requester, subject: str, success: bool,
                        nomor_porsi: str = "") -> None:
    """Store one check now, with one INSERT and no ORM object (the caller's transaction commits it with the
    turn; the next wait_before_attempt() counts it)."""
    values = _attempt(now, who, subject, success, nomor_porsi)
    await session.run_sync(lambda sync: sync.connection().execute(_INSERT_ATTEMPT, values))

