"""Staff and API actions on cases: status changes through the state machine, document review and
assignment. Each writes the audit log, notifies the pilgrim through their channel and, for status
changes, queues the webhook. The caller commits and then wakes the outbox."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.backoffice import audit
from bot.backoffice.answers import checklist_key
from bot.backoffice.context import Backoffice
from bot.backoffice.notify import queue_replies, queue_text, render
from bot.backoffice.states import CLOSED_STATUSES, TRANSITIONS, target_status
from dialogues.sla_hooks import sla_stage_change
from dialogues.survey import ChatSurvey
from storage.models import Appointment, Case, CaseDocument, Conversation

MAX_TEXT = 2000
AWAITS_REPLY = ("request_info", "invite")  # staff actions the pilgrim is expected to answer


class ActionError(Exception):
    """Input problem; `code` is a staff-text key."""

    def __init__(self, code: str, **values: object) -> None:
        super().__init__(code)
        self.code = code
        self.values = values


def _now() -> datetime:
    return datetime.now(timezone.utc)


async def case_conversation(session: AsyncSession, case: Case, lock: bool = False) -> Conversation | None:
    """The case's conversation; `lock` takes the same row lock as the pipeline (PostgreSQL)."""
    if not case.conversation_id:
        return None
    query = select(Conversation).where(Conversation.id == case.conversation_id)
    if lock and session.bind is not None and session.bind.dialect.name == "postgresql":
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


def _mark_touched(case: Case, now: datetime) -> None:
    if case.first_staff_action_at is None:
        case.first_staff_action_at = now


async def slot_taken(session: AsyncSession, slot: datetime) -> int:
    return int((await session.execute(select(func.count(Appointment.id)).where(
        Appointment.slot_start == slot, Appointment.status == "booked"))).scalar_one())


async def change_status(bo: Backoffice, session: AsyncSession, case: Case, action: str, actor: str,
                        staff_id: int | None = None, text: str = "", slot: datetime | None = None,
                        now: datetime | None = None) -> str:
    """Apply `action` to `case`; raises IllegalTransition or ActionError. Returns the new status.
    `now` pins the clock (conversation stories); default: the current time."""
    transition = TRANSITIONS.get(action)
    new_status = target_status(action, case.status)
    assert transition is not None
    text = text.strip()
    if transition.needs_text and not text:
        raise ActionError("reason_required")
    if len(text) > MAX_TEXT:
        raise ActionError("text_too_long", max=MAX_TEXT)
    now = now or _now()
    values = {"ticket": case.ticket, "text": text, "office_name": bo.services.settings.config.office.name,
              "address": bo.services.settings.config.office.address, "phone": bo.services.settings.config.office.phone}
    if transition.needs_slot:
        if slot is None:
            raise ActionError("slot_required")
        if slot not in bo.rules.upcoming_slots(now) or await slot_taken(session, slot) >= bo.rules.slot_capacity:
            raise ActionError("slot_invalid")
        await _cancel_bookings(session, case)  # one active booking per case
        session.add(Appointment(case_id=case.id, conversation_id=case.conversation_id, slot_start=slot,
                                purpose=f"case:{case.service}"[:40], status="booked"))
        values["when"] = bo.format_when(slot)
    old_status = case.status
    case.status = new_status
    case.updated_at = now
    _mark_touched(case, now)
    if new_status in CLOSED_STATUSES:
        case.closed_at = now
    values.update(sla_stage_change(bo.services.engine, case, now))
    conversation = await case_conversation(session, case, lock=True)
    if conversation is not None:
        queue_text(session, conversation, render(bo.services.engine, f"bo_case_{action}", **values),
                   sender="staff", staff_id=staff_id)
        _track_reply(bo, conversation, case, action, now)
        if new_status in CLOSED_STATUSES:  # satisfaction survey (SKM), at most once per case
            queue_replies(session, conversation, await ChatSurvey(bo.services.engine).offer(session, case, now),
                          staff_id=staff_id)
    audit.record(session, actor, f"case.{action}", case_id=case.id, conversation_id=case.conversation_id,
                 from_status=old_status, to_status=new_status, text=text or None,
                 slot=slot.isoformat() if slot else None, notified=conversation is not None)
    bo.webhooks.enqueue(session, "case.status_changed", case, previous_status=old_status)
    return new_status


def _track_reply(bo: Backoffice, conversation: Conversation, case: Case, action: str, now: datetime) -> None:
    """After a question or an invitation the conversation waits for the pilgrim's reply to this case;
    any other action ends that wait."""
    engine = bo.services.engine
    if not hasattr(engine, "await_reply"):
        return
    if action in AWAITS_REPLY:
        engine.await_reply(conversation, case, action, now)
    else:
        engine.stop_awaiting(conversation, case)


async def _cancel_bookings(session: AsyncSession, case: Case) -> list[Appointment]:
    booked = list((await session.execute(select(Appointment).where(
        Appointment.case_id == case.id, Appointment.status == "booked"))).scalars().all())
    for appointment in booked:
        appointment.status = "cancelled"
    await session.flush()  # before a new booking is inserted: one active booking per case (unique index)
    return booked


async def active_appointment(session: AsyncSession, case: Case) -> Appointment | None:
    """The case's one booked visit (the latest, should older data hold several)."""
    return (await session.execute(select(Appointment).where(
        Appointment.case_id == case.id, Appointment.status == "booked").order_by(Appointment.id.desc())
        .limit(1))).scalar_one_or_none()


async def change_appointment(bo: Backoffice, session: AsyncSession, case: Case, slot: datetime | None, actor: str,
                             staff_id: int | None = None) -> None:
    """Staff move the case's booked visit to `slot`, or cancel it (`slot` None); the pilgrim is told."""
    if case.status in CLOSED_STATUSES:
        raise ActionError("case_closed")
    now = _now()
    current = await active_appointment(session, case)
    if slot is None and current is None:
        raise ActionError("no_appointment")
    if slot is not None:
        if slot not in bo.rules.upcoming_slots(now) or await slot_taken(session, slot) >= bo.rules.slot_capacity:
            raise ActionError("slot_invalid")
    old = await _cancel_bookings(session, case)
    if slot is not None:
        purpose = current.purpose if current is not None else f"case:{case.service}"[:40]
        session.add(Appointment(case_id=case.id, conversation_id=case.conversation_id, slot_start=slot,
                                purpose=purpose, status="booked", created_at=now))
    case.updated_at = now
    _mark_touched(case, now)
    conversation = await case_conversation(session, case, lock=True)
    if conversation is not None:
        values = {"ticket": case.ticket, "old_when": bo.format_when(current.slot_start) if current else "-",
                  "when": bo.format_when(slot) if slot else "", "office_name": bo.services.settings.config.office.name,
                  "address": bo.services.settings.config.office.address}
        key = "bo_appointment_changed" if slot is not None else "bo_appointment_cancelled"
        queue_text(session, conversation, render(bo.services.engine, key, **values), sender="staff",
                   staff_id=staff_id)
    detail = {"from": old[0].slot_start.isoformat() if old else None, "to": slot.isoformat() if slot else None,
              "by": "staff"}
    audit.record(session, actor, "case.appointment", case_id=case.id, conversation_id=case.conversation_id,
                 notified=conversation is not None, **detail)
    bo.webhooks.enqueue(session, "case.appointment_changed", case, **detail)


async def review_document(bo: Backoffice, session: AsyncSession, case: Case, doc: CaseDocument, accept: bool,
                          reason: str, actor: str, staff_id: int | None = None) -> None:
    """Accept a document, or reject it and have the bot ask the pilgrim to send that item again."""
    reason = reason.strip()
    if not accept and not reason:
        raise ActionError("reason_required")
    if len(reason) > 500:
        raise ActionError("text_too_long", max=500)
    now = _now()
    doc.status = "accepted" if accept else "rejected"
    doc.reject_reason = None if accept else reason
    _mark_touched(case, now)
    if case.status == "submitted":
        case.status = "in_review"
        bo.webhooks.enqueue(session, "case.status_changed", case, previous_status="submitted")
    case.updated_at = now
    notified = False
    if not accept:
        conversation = await case_conversation(session, case, lock=True)
        if conversation is not None:
            await _ask_resend(bo, session, conversation, case, doc, reason, staff_id)
            notified = True
    audit.record(session, actor, "document.accept" if accept else "document.reject", case_id=case.id,
                 conversation_id=case.conversation_id, document_id=doc.id, item_key=doc.item_key,
                 reason=reason or None, notified=notified)


async def _ask_resend(bo: Backoffice, session: AsyncSession, conversation: Conversation, case: Case,
                      doc: CaseDocument, reason: str, staff_id: int | None) -> None:
    engine = bo.services.engine
    if hasattr(engine, "request_document_resend"):
        replies = await engine.request_document_resend(session, conversation, case, doc.item_key, reason)
        queue_replies(session, conversation, list(replies), staff_id=staff_id)
        return
    item = item_name(bo, case, doc.item_key)
    queue_text(session, conversation, render(engine, "bo_document_rejected", item=item, ticket=case.ticket,
                                             reason=reason), sender="staff", staff_id=staff_id)


def item_name(bo: Backoffice, case: Case, item_key: str) -> str:
    for item in bo.rules.checklist(case.service, case.variant, checklist_key(case.answers)):
        if item.get("key") == item_key:
            return str(item.get("name") or item_key)
    return item_key


async def assign(session: AsyncSession, case: Case, staff_id: int | None, actor: str) -> None:
    old = case.assigned_staff_id
    case.assigned_staff_id = staff_id
    audit.record(session, actor, "case.assign", case_id=case.id, from_staff_id=old, to_staff_id=staff_id)
