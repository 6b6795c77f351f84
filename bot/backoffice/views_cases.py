"""Case queue, case detail and the staff actions on a case."""
from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any

from aiohttp import web
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.backoffice import audit
from bot.backoffice.answers import answer_rows, checklist_key
from bot.backoffice.case_actions import (
    ActionError, active_appointment, assign, change_appointment, change_status, review_document, slot_taken,
)
from bot.backoffice.notify import wake_outbox
from bot.backoffice.queue import (
    AGE_CHOICES, QueueFilter, count_cases, known_services, list_cases, sla_flag, sla_view, status_counts,
)
from bot.backoffice.replies_view import attachments_view, pilgrim_replies, reply_tickets, unanswered_replies
from bot.backoffice.states import CLOSED_STATUSES, STATUSES, TRANSITIONS, IllegalTransition, allowed_actions
from bot.backoffice.texts import staff_text
from bot.backoffice.web_common import (
    PREFIX, bo, current_staff, form, int_param, now_utc, path_int, redirect, render,
)
from bot.docread import reader_of
from bot.docread.compare import case_readings
from dialogues.case_letters import GENERATED, ITEM_PREFIX, is_letter, templates_for
from storage.models import AuditLog, Appointment, Case, CaseDocument, Conversation, Message, Pilgrim, StaffUser

TRANSCRIPT_LIMIT = 300
EXTRA_ITEM = "tambahan"  # late documents that are not one of the checklist's items (dialogues/casereplies.py)
CSV_LIMIT = 50_000


async def staff_names(session: AsyncSession) -> dict[int, str]:
    rows = (await session.execute(select(StaffUser.id, StaffUser.display_name))).all()
    return {i: n for i, n in rows}


async def queue_page(request: web.Request) -> web.Response:
    context = bo(request)
    staff = current_staff(request)
    now = now_utc()
    async with context.services.db.session() as session:
        services = await known_services(session)
        f = QueueFilter.from_query(request.query, services)
        size = context.settings.page_size
        total = await count_cases(session, f, staff.id, now)
        cases = await list_cases(session, f, staff.id, now, size, (f.page - 1) * size)
        counts = await status_counts(session, f, staff.id, now)
        names = await staff_names(session)
        doc_counts = await document_counts(session, [c.id for c in cases])
        replied = await unanswered_replies(session, [c.id for c in cases])
    rows = [{"case": c, "sla": sla_flag(c, now, context.rules),
             "assigned": names.get(c.assigned_staff_id or 0, ""), "docs": doc_counts.get(c.id, {}),
             "new_reply": c.id in replied} for c in cases]
    pages = max(1, (total + size - 1) // size)
    return render(request, "queue.jinja2", {
        "rows": rows, "f": f, "counts": counts, "statuses": STATUSES, "services": services, "staff_names": names,
        "age_choices": list(AGE_CHOICES), "total": total, "pages": pages, "now": now,
        "sla_count": sum(1 for r in rows if r["sla"] in ("at_risk", "breached")),
    })


async def document_counts(session: AsyncSession, case_ids: list[int]) -> dict[int, dict[str, int]]:
    """Per case: how many current documents are waiting for review, accepted, rejected."""
    if not case_ids:
        return {}
    rows = (await session.execute(select(CaseDocument.case_id, CaseDocument.status, func.count(CaseDocument.id))
                                  .where(CaseDocument.case_id.in_(case_ids),
                                         CaseDocument.status.not_in(("replaced", GENERATED)))
                                  .group_by(CaseDocument.case_id, CaseDocument.status))).all()
    out: dict[int, dict[str, int]] = {}
    for case_id, status, n in rows:
        out.setdefault(case_id, {})[status] = int(n)
    return out


async def queue_csv(request: web.Request) -> web.StreamResponse:
    context = bo(request)
    staff = current_staff(request)
    now = now_utc()
    async with context.services.db.session() as session:
        f = QueueFilter.from_query(request.query, await known_services(session))
        cases = await list_cases(session, f, staff.id, now, CSV_LIMIT)
        names = await staff_names(session)
        audit.record(session, f"staff:{staff.username}", "export.queue_csv", rows=len(cases), **f.as_query())
        await session.commit()
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["ticket", "service", "variant", "status", "nomor_porsi", "applicant_name", "submitted_at",
                     "first_staff_action_at", "closed_at", "assigned_to", "sla", "stage_due_at",
                     "working_days_left", "expected_completion"])
    for c in cases:
        sla = sla_view(c, now, context.rules)
        writer.writerow([_csv_cell(v) for v in (
            c.ticket, c.service, c.variant or "", c.status, c.nomor_porsi or "", c.applicant_name or "",
            _iso(c.submitted_at), _iso(c.first_staff_action_at), _iso(c.closed_at),
            names.get(c.assigned_staff_id or 0, ""), sla.flag if sla else "", _iso(sla.stage_due if sla else None),
            "" if sla is None or sla.flag == "paused" else str(sla.days_left),
            _iso(sla.expected if sla else c.sla_due_at))])
    body = ("\ufeff" + out.getvalue()).encode("utf-8")
    return web.Response(body=body, content_type="text/csv", charset="utf-8", headers={
        "Content-Disposition": f'attachment; filename="kasus-{now.strftime("%Y%m%d-%H%M")}.csv"'})


def _iso(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value else ""


def _csv_cell(value: str) -> str:
    """Neutralise spreadsheet formulas in user-supplied cells."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


async def load_case(session: AsyncSession, case_id: int, lock: bool = False) -> Case:
    """The case or 404; `lock` takes a row lock (PostgreSQL) so two officers cannot race a transition."""
    query = select(Case).where(Case.id == case_id)
    if lock and session.bind is not None and session.bind.dialect.name == "postgresql":
        query = query.with_for_update()
    case = (await session.execute(query)).scalar_one_or_none()
    if case is None:
        raise web.HTTPNotFound(text=staff_text("not_found"))
    return case


async def case_documents(session: AsyncSession, case_id: int) -> list[CaseDocument]:
    return list((await session.execute(select(CaseDocument).where(CaseDocument.case_id == case_id)
                                       .order_by(CaseDocument.id))).scalars().all())


async def case_pilgrim(session: AsyncSession, case: Case) -> Pilgrim | None:
    """The registry record of the case's pilgrim (by link, else by nomor porsi)."""
    pilgrim = await session.get(Pilgrim, case.pilgrim_id) if case.pilgrim_id else None
    if pilgrim is None and case.nomor_porsi:
        pilgrim = (await session.execute(select(Pilgrim).where(Pilgrim.nomor_porsi == case.nomor_porsi))
                   ).scalar_one_or_none()
    return pilgrim


def checklist_view(items: list[dict[str, Any]], documents: list[CaseDocument]) -> list[dict[str, Any]]:
    """Checklist items with their documents; documents of unknown items are listed at the end. The letters the
    bot prepared (dialogues/case_letters.py) are not the pilgrim's documents: the case page lists them apart."""
    by_item: dict[str, list[CaseDocument]] = {}
    for doc in documents:
        if not is_letter(doc):
            by_item.setdefault(doc.item_key, []).append(doc)
    view = []
    for item in items:
        docs = by_item.pop(str(item.get("key")), [])
        view.append({"key": item.get("key"), "name": item.get("name") or item.get("key"),
                     "form": item.get("form", ""), "optional": bool(item.get("optional")), "docs": docs,
                     "state": _item_state(docs)})
    for key, docs in by_item.items():
        name = staff_text("extra_documents") if key == EXTRA_ITEM else key
        view.append({"key": key, "name": name, "form": "", "optional": True, "docs": docs, "state": _item_state(docs)})
    return view


def _item_state(docs: list[CaseDocument]) -> str:
    live = [d for d in docs if d.status != "replaced"]
    if not live:
        return "missing"
    states = {d.status for d in live}
    for state in ("rejected", "received", "accepted"):
        if state in states:
            return state
    return "received"


async def case_page(request: web.Request) -> web.Response:
    context = bo(request)
    case_id = path_int(request, "case_id")
    now = now_utc()
    async with context.services.db.session() as session:
        case = await load_case(session, case_id)
        documents = await case_documents(session, case.id)
        pilgrim = await case_pilgrim(session, case)
        conversation = await session.get(Conversation, case.conversation_id) if case.conversation_id else None
        messages: list[Message] = []
        if conversation is not None:
            messages = list(reversed((await session.execute(
                select(Message).where(Message.conversation_id == conversation.id)
                .order_by(Message.id.desc()).limit(TRANSCRIPT_LIMIT))).scalars().all()))
        appointments = (await session.execute(select(Appointment).where(Appointment.case_id == case.id)
                                               .order_by(Appointment.slot_start))).scalars().all()
        history = (await session.execute(select(AuditLog).where(AuditLog.case_id == case.id,
                                                                AuditLog.action != "case.view")
                                          .order_by(AuditLog.id.desc()).limit(100))).scalars().all()
        names = await staff_names(session)
        audit.record(session, f"staff:{current_staff(request).username}", "case.view", case_id=case.id)
        await session.commit()
        active_staff = (await session.execute(select(StaffUser).where(StaffUser.active.is_(True))
                                              .order_by(StaffUser.display_name))).scalars().all()
        replies = await pilgrim_replies(session, case.id)
        tickets = await reply_tickets(session, conversation.id) if conversation is not None else {}
        active = await active_appointment(session, case)
        slots = []
        if "invite" in allowed_actions(case.status) or active is not None:
            for slot in context.rules.upcoming_slots(now):
                left = context.rules.slot_capacity - await slot_taken(session, slot)
                if left > 0:
                    slots.append({"value": slot.isoformat(), "at": slot, "left": left})
        reader = reader_of(request)
        readings = await case_readings(session, context.services.engine.rules.document_reading,
                                       reader is not None and reader.available, case, documents, pilgrim)
    items = context.rules.checklist(case.service, case.variant, checklist_key(case.answers))
    templates = templates_for(context.services.engine, case)
    return render(request, "case.jinja2", {
        "readings": readings, "reading_warnings": sum(len(r.warnings) for r in readings.values()),
        "case": case, "answers": answer_rows(case.answers), "pilgrim": pilgrim, "conversation": conversation,
        "messages": messages, "checklist": checklist_view(items, documents),
        "letters": [d for d in documents if is_letter(d) and d.status == GENERATED],
        "letter_names": {f"{ITEM_PREFIX}{t.key}": t.name for t in templates}, "letters_possible": bool(templates),
        "appointments": appointments, "history": history, "staff_names": names, "active_staff": active_staff,
        "actions": [TRANSITIONS[a] for a in allowed_actions(case.status)], "slots": slots,
        "replies": replies, "reply_tickets": tickets, "attachments_of": attachments_view,
        "active_appointment": active,
        "change_slots": [s for s in slots if active is None or s["at"] != active.slot_start],
        "sla": sla_view(case, now, context.rules), "tz": context.rules.tz,
    })


async def case_action(request: web.Request) -> web.Response:
    context = bo(request)
    staff = current_staff(request)
    case_id = path_int(request, "case_id")
    data = await form(request)
    action = data.get("action", "")
    back = f"{PREFIX}/cases/{case_id}"
    slot: datetime | None = None
    if data.get("slot"):
        slot = _slot(data["slot"])
        if slot is None:
            return redirect(back, err="slot_invalid")
    async with context.services.db.session() as session:
        case = await load_case(session, case_id, lock=True)
        try:
            await change_status(context, session, case, action, f"staff:{staff.username}", staff.id,
                                text=data.get("text", ""), slot=slot)
        except IllegalTransition:
            return redirect(back, err="illegal_transition")
        except ActionError as exc:
            return redirect(back, err=exc.code)
        await session.commit()
        conversation = await session.get(Conversation, case.conversation_id) if case.conversation_id else None
    wake_outbox(context.services, conversation)
    return redirect(back, msg="done_status")


async def case_appointment(request: web.Request) -> web.Response:
    """Staff change or cancel the case's booked visit; the pilgrim is told in the chat."""
    context = bo(request)
    staff = current_staff(request)
    case_id = path_int(request, "case_id")
    data = await form(request)
    back = f"{PREFIX}/cases/{case_id}"
    slot: datetime | None = None
    if data.get("op") != "cancel":
        slot = _slot(data.get("slot", ""))
        if slot is None:
            return redirect(back, err="slot_invalid")
    async with context.services.db.session() as session:
        case = await load_case(session, case_id, lock=True)
        try:
            await change_appointment(context, session, case, slot, f"staff:{staff.username}", staff.id)
        except ActionError as exc:
            return redirect(back, err=exc.code)
        await session.commit()
        conversation = await session.get(Conversation, case.conversation_id) if case.conversation_id else None
    wake_outbox(context.services, conversation)
    return redirect(back, msg="done_appointment")


async def case_assign(request: web.Request) -> web.Response:
    context = bo(request)
    staff = current_staff(request)
    case_id = path_int(request, "case_id")
    data = await form(request)
    value = data.get("staff_id", "")
    target = staff.id if value == "me" else int_param(value)
    async with context.services.db.session() as session:
        case = await load_case(session, case_id)
        if target is not None:
            member = await session.get(StaffUser, target)
            if member is None or not member.active:
                return redirect(f"{PREFIX}/cases/{case_id}", err="invalid_input")
        await assign(session, case, target, f"staff:{staff.username}")
        await session.commit()
    return redirect(f"{PREFIX}/cases/{case_id}", msg="done_assigned")


async def document_review(request: web.Request) -> web.Response:
    context = bo(request)
    staff = current_staff(request)
    case_id = path_int(request, "case_id")
    doc_id = path_int(request, "doc_id")
    data = await form(request)
    decision = data.get("decision", "")
    back = f"{PREFIX}/cases/{case_id}#doc-{doc_id}"
    if decision not in ("accept", "reject"):
        return redirect(back, err="invalid_input")
    async with context.services.db.session() as session:
        conversation_id = (await session.execute(select(Case.conversation_id).where(Case.id == case_id))).scalar()
    # rejecting writes the dialogue state (which file comes next): not while the pipeline runs a turn
    async with context.services.pipeline.locks.hold(conversation_id or 0), context.services.db.session() as session:
        case = await load_case(session, case_id, lock=True)
        doc = await session.get(CaseDocument, doc_id)
        if doc is None or doc.case_id != case.id:
            raise web.HTTPNotFound(text=staff_text("not_found"))
        if doc.status == "replaced" or case.status in CLOSED_STATUSES:
            return redirect(f"{PREFIX}/cases/{case_id}", err="invalid_input")
        try:
            await review_document(context, session, case, doc, decision == "accept", data.get("reason", ""),
                                  f"staff:{staff.username}", staff.id)
        except ActionError as exc:
            return redirect(f"{PREFIX}/cases/{case_id}", err=exc.code)
        await session.commit()
        conversation = await session.get(Conversation, case.conversation_id) if case.conversation_id else None
    wake_outbox(context.services, conversation)
    return redirect(f"{PREFIX}/cases/{case_id}", msg="done_doc_accepted" if decision == "accept" else "done_doc_rejected")


async def open_case_count(session: AsyncSession) -> int:
    return int((await session.execute(select(func.count(Case.id)).where(Case.status == "submitted"))).scalar_one())


def _slot(raw: str) -> datetime | None:
    """A slot from the case page's form (ISO with a time zone), or None when it is not one."""
    try:
        slot = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return slot if slot.tzinfo is not None else None
