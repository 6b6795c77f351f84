"""Checks one step's expectations. Each check reads what a person would see: the replies and buttons the
pilgrim got, the conversation state, the case as stored (with the back office's own checklist view), the
hand-off inbox rows the staff page shows, and the broadcast opt-out. The first unmet one is reported."""
from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import date
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from bot.backoffice.answers import checklist_key
from bot.backoffice.views_cases import checklist_view
from bot.backoffice.views_inbox import inbox_rows
from storage.broadcast_models import BroadcastOptout
from storage.models import Appointment, AuditLog, Case, CaseDocument, Conversation, Message

if TYPE_CHECKING:
    from bot.stories.model import Step, Turn

MISSING = object()


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def same(expected: Any, actual: Any) -> bool:
    """Equal, with strings compared case-insensitively and dates by their ISO text."""
    if expected is None:
        return actual is None or actual is MISSING
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected == actual
    if isinstance(expected, date):
        expected = expected.isoformat()
    if isinstance(expected, (int, float)) and isinstance(actual, (int, float)):
        return expected == actual
    return str(expected).strip().casefold() == str(actual).strip().casefold()


def show(value: Any) -> str:
    return "(absent)" if value is MISSING else repr(value)


class Observation:
    """What can be seen after a step; database reads happen only for the expectations that need them."""

    def __init__(self, services: Any, conversation_id: int, turn: "Turn", backoffice: Any) -> None:
        self.services = services
        self.conversation_id = conversation_id
        self.turn = turn
        self.backoffice = backoffice
        self._conversation: Conversation | None = None

    @property
    def texts(self) -> list[str]:
        return [text for text, _ in self.turn.replies]

    @property
    def choices(self) -> list[str]:
        return [c for _, choices in self.turn.replies for c in choices]

    def replies_shown(self) -> str:
        if not self.turn.replies:
            return "(no reply)"
        return " | ".join(t.replace("\n", " ")[:300] for t in self.texts)

    async def conversation(self) -> Conversation:
        if self._conversation is None:
            async with self.services.db.session() as session:
                self._conversation = await session.get(Conversation, self.conversation_id)
        assert self._conversation is not None
        return self._conversation

    async def state(self) -> dict[str, Any]:
        return dict((await self.conversation()).state or {})

    async def cases(self) -> list[Case]:
        async with self.services.db.session() as session:
            return list((await session.execute(select(Case).where(Case.conversation_id == self.conversation_id)
                                               .order_by(Case.id))).scalars().all())


Check = Callable[[Any, Observation], Awaitable[str | None]]


async def _intent(expected: Any, obs: Observation) -> str | None:
    allowed = as_list(expected)
    if obs.turn.intent not in allowed:
        return f"intent: expected {' or '.join(map(str, allowed))}, got {obs.turn.intent}"
    return None


async def _intent_not(expected: Any, obs: Observation) -> str | None:
    if obs.turn.intent in as_list(expected):
        return f"intent_not: got {obs.turn.intent}"
    return None


async def _slots(expected: dict[str, Any], obs: Observation) -> str | None:
    slots = (await obs.state()).get("slots") or {}
    for name, value in expected.items():
        actual = slots.get(name, MISSING)
        if not same(value, actual):
            return f"slots.{name}: expected {value!r}, got {show(actual)} (slots: {slots})"
    return None


async def _flow(expected: Any, obs: Observation) -> str | None:
    actual = (await obs.state()).get("flow")
    return None if same(expected, actual) else f"flow: expected {expected!r}, got {actual!r}"


async def _step(expected: Any, obs: Observation) -> str | None:
    actual = (await obs.state()).get("step")
    return None if same(expected, actual) else f"step: expected {expected!r}, got {actual!r}"


async def _reply_contains(expected: Any, obs: Observation) -> str | None:
    text = "\n".join(obs.texts).casefold()
    for part in as_list(expected):
        if str(part).casefold() not in text:
            return f"reply_contains {part!r}: not in the replies"
    return None


async def _reply_not_contains(expected: Any, obs: Observation) -> str | None:
    text = "\n".join(obs.texts).casefold()
    for part in as_list(expected):
        if str(part).casefold() in text:
            return f"reply_not_contains {part!r}: it is in the replies"
    return None


async def _reply_matches(expected: Any, obs: Observation) -> str | None:
    text = "\n".join(obs.texts)
    for pattern in as_list(expected):
        if not re.search(str(pattern), text, re.IGNORECASE | re.DOTALL | re.MULTILINE):
            return f"reply_matches {pattern!r}: no match"
    return None


def _has_choice(choices: list[str], wanted: str) -> bool:
    wanted = wanted.casefold()
    return any(c.casefold() == wanted or (len(wanted) >= 4 and wanted in c.casefold()) for c in choices)


async def _choices_include(expected: Any, obs: Observation) -> str | None:
    for label in as_list(expected):
        if not _has_choice(obs.choices, str(label)):
            return f"choices_include {label!r}: buttons were {obs.choices}"
    return None


async def _choices_exclude(expected: Any, obs: Observation) -> str | None:
    for label in as_list(expected):
        if _has_choice(obs.choices, str(label)):
            return f"choices_exclude {label!r}: buttons were {obs.choices}"
    return None


async def _no_reply(expected: Any, obs: Observation) -> str | None:
    if bool(expected) != (not obs.turn.replies):
        return "no_reply: expected no reply" if expected else "no_reply: false, but nothing was said"
    return None


async def _mode(expected: Any, obs: Observation) -> str | None:
    actual = (await obs.conversation()).mode
    return None if same(expected, actual) else f"mode: expected {expected!r}, got {actual!r}"


async def _optout(expected: Any, obs: Observation) -> str | None:
    conversation = await obs.conversation()
    async with obs.services.db.session() as session:
        row = await session.get(BroadcastOptout, obs.conversation_id)
    opted_out = row is not None and not conversation.subscribed  # subscribing again clears an opt-out
    if bool(expected) != opted_out:
        return f"optout: expected {bool(expected)}, the conversation is {'opted out' if opted_out else 'not opted out'}"
    return None


CASE_FIELDS = ("service", "variant", "status", "ticket", "nomor_porsi", "applicant_name")


async def _case(expected: Any, obs: Observation) -> str | None:
    cases = await obs.cases()
    if expected in (None, False):
        return f"case: expected none, found {[c.ticket for c in cases]}" if cases else None
    if "count" in expected and len(cases) != int(expected["count"]):
        return f"case.count: expected {expected['count']}, found {len(cases)}"
    if not cases:
        return "case: no case was created for this conversation"
    case = cases[-1]
    for key in CASE_FIELDS:
        if key in expected and not same(expected[key], getattr(case, key)):
            return f"case.{key}: expected {expected[key]!r}, got {getattr(case, key)!r}"
    if "ticket_matches" in expected and not re.fullmatch(str(expected["ticket_matches"]), case.ticket):
        return f"case.ticket_matches {expected['ticket_matches']!r}: ticket is {case.ticket}"
    for name, value in (expected.get("answers") or {}).items():
        actual = (case.answers or {}).get(name, MISSING)
        if not same(value, actual):
            return f"case.answers.{name}: expected {value!r}, got {show(actual)}"
    if any(k in expected for k in ("documents_present", "documents_missing", "appointment")):
        async with obs.services.db.session() as session:
            documents = list((await session.execute(select(CaseDocument).where(CaseDocument.case_id == case.id)
                                                    .order_by(CaseDocument.id))).scalars().all())
            booked = (await session.execute(select(Appointment).where(
                Appointment.case_id == case.id, Appointment.status == "booked"))).scalars().all()
        items = obs.backoffice.rules.checklist(case.service, case.variant, checklist_key(case.answers))
        view = {str(row["key"]): row["state"] for row in checklist_view(items, documents)}
        for key in as_list(expected.get("documents_present")):
            if view.get(key, "missing") == "missing":
                return f"case.documents_present {key!r}: the case page shows it missing (documents: {view})"
        for key in as_list(expected.get("documents_missing")):
            if key not in view:
                return f"case.documents_missing {key!r}: not an item of the case's checklist ({sorted(view)})"
            if view[key] != "missing":
                return f"case.documents_missing {key!r}: the case page shows it {view[key]}"
        if "appointment" in expected and bool(expected["appointment"]) != bool(booked):
            return f"case.appointment: expected {bool(expected['appointment'])}, booked: {len(booked)}"
    return None


async def _staff_sees(expected: dict[str, Any], obs: Observation) -> str | None:
    async with obs.services.db.session() as session:
        rows = [r for r in await inbox_rows(session) if r["id"] == obs.conversation_id]
        messages = list((await session.execute(select(Message).where(
            Message.conversation_id == obs.conversation_id).order_by(Message.id))).scalars().all())
        case = (await session.execute(select(Case).where(Case.conversation_id == obs.conversation_id)
                                      .order_by(Case.id.desc()).limit(1))).scalars().first()
        history = [] if case is None else list((await session.execute(select(AuditLog.action).where(
            AuditLog.case_id == case.id).order_by(AuditLog.id))).scalars().all())
    if "inbox" in expected and bool(expected["inbox"]) != bool(rows):
        return f"staff_sees.inbox: expected {bool(expected['inbox'])}, listed: {bool(rows)}"
    for key, field_name in (("inbox_name", "name"), ("inbox_last_message", "last_text")):
        if key in expected:
            if not rows:
                return f"staff_sees.{key}: the conversation is not in the inbox"
            if str(expected[key]).casefold() not in str(rows[0][field_name]).casefold():
                return f"staff_sees.{key} {expected[key]!r}: the inbox shows {rows[0][field_name]!r}"
    transcript = "\n".join(m.text for m in messages).casefold()
    for part in as_list(expected.get("transcript_contains")):
        if str(part).casefold() not in transcript:
            return f"staff_sees.transcript_contains {part!r}: not in the conversation transcript"
    pilgrim_texts = [m.text.casefold() for m in messages if m.direction == "in"]
    for part in as_list(expected.get("pilgrim_messages_include")):
        if not any(str(part).casefold() in t for t in pilgrim_texts):
            return f"staff_sees.pilgrim_messages_include {part!r}: no pilgrim message has it"
    for action in as_list(expected.get("case_history_includes")):
        if action not in history:
            return f"staff_sees.case_history_includes {action!r}: the case history has {history}"
    if "case_status" in expected:
        actual = case.status if case else None
        if not same(expected["case_status"], actual):
            return f"staff_sees.case_status: expected {expected['case_status']!r}, got {actual!r}"
    return None


CHECKS: dict[str, Check] = {
    "intent": _intent, "intent_not": _intent_not, "slots": _slots, "flow": _flow, "step": _step,
    "reply_contains": _reply_contains, "reply_not_contains": _reply_not_contains, "reply_matches": _reply_matches,
    "choices_include": _choices_include, "choices_exclude": _choices_exclude, "no_reply": _no_reply,
    "case": _case, "staff_sees": _staff_sees, "optout": _optout, "mode": _mode,
}


async def check_step(step: "Step", obs: Observation) -> str | None:
    """The first unmet expectation of `step` (in the order written), with the replies for context."""
    for key, expected in step.expect.items():
        failure = await CHECKS[key](expected, obs)
        if failure:
            return failure
    return None
