"""Flow actions: the only dialogue code that reads or writes the database.

Each action takes (engine, ctx, flow, step) and returns a result name that the flow maps to an outcome
(`results:` in the YAML); an unmapped result continues with the next step.
"""
from __future__ import annotations

import hmac
import logging
import math
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from sqlalchemy import Row, and_, bindparam, func, or_, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from dialogues.calendar import candidate_slots, hajj_hijri_year
from dialogues.case_letters import case_by_ticket, letters_message, make_letters
from dialogues.parsing import format_date, mask_name
from dialogues.replies import Reply
from dialogues.schema import CaseFields
from dialogues.sla_hooks import expected_vars, start_clock
from dialogues.throttle import Requester, store_attempt, wait_before_attempt
from storage.models import Appointment, AuditLog, Case, CaseDocument, Pilgrim, TicketSequence

if TYPE_CHECKING:
    from dialogues.engine import Ctx, DialogueEngine
    from dialogues.schema import Flow, Step

log = logging.getLogger(__name__)

REGISTRY_FLAG = "nik_sudah_terdaftar"  # pendaftaran: the NIK is on the waiting list (for staff, never told)

Action = Callable[["DialogueEngine", "Ctx", "Flow", "Step"], Awaitable[str]]


def normalize_status(status: str | None) -> str:
    return (status or "").strip().lower().replace(" ", "_").replace("-", "_")


def _slot(ctx: "Ctx", step: "Step", param: str = "slot") -> str:
    """The value of the slot that the step's params name (checked at load time: dialogues/config.py)."""
    return str(ctx.slots.get(str(step.params[param])) or "")


def _field(ctx: "Ctx", slot: str | None) -> Any:
    return ctx.slots.get(slot) if slot else None


def _requester(ctx: "Ctx") -> Requester:
    return Requester(ctx.conv.id, ctx.turn.requester)


def _wait_text(engine: "DialogueEngine", wait: timedelta) -> str:
    minutes = max(1, math.ceil(wait.total_seconds() / 60))
    hours, rest = divmod(minutes, 60)
    if not hours:
        return engine.text("wait_minutes", n=minutes)
    return engine.text("wait_hours", n=hours) if not rest else engine.text("wait_hours_minutes", h=hours, m=rest)


async def is_locked(engine: "DialogueEngine", ctx: "Ctx", subject: str) -> bool:
    """True when this requester must wait before its next identity check (dialogues/throttle.py); the wait is
    put in the `{wait}` variable of the reply. The same for any subject, known or not."""
    wait = await wait_before_attempt(ctx.session, ctx.now, _requester(ctx), subject)
    if wait <= timedelta(0):
        return False
    ctx.extra["wait"] = _wait_text(engine, wait)
    return True


async def _attempt(ctx: "Ctx", subject: str, success: bool, porsi: str = "") -> None:
    await store_attempt(ctx.session, ctx.now, _requester(ctx), subject, success, nomor_porsi=porsi)


def _matches(answer: str, birth_date: date | str | None, nik: str | None) -> bool:
    """The identity answer: the ISO birth date, or 'nik:' and the last 4 digits of the NIK."""
    if isinstance(birth_date, date):
        birth_date = birth_date.isoformat()
    by_date = bool(birth_date) and hmac.compare_digest(answer.encode(), str(birth_date).encode())
    by_nik = bool(nik) and len(str(nik)) >= 4 and hmac.compare_digest(answer.encode(), f"nik:{str(nik)[-4:]}".encode())
    return by_date or by_nik


_PILGRIMS = Pilgrim.__table__
_PILGRIM_BY_PORSI = select(*_PILGRIMS.c).where(_PILGRIMS.c.nomor_porsi == bindparam("porsi"))


async def _pilgrim(ctx: "Ctx", porsi: str) -> Row[Any] | None:
    """The registry row of a porsi number (a plain row with the columns as attributes, no ORM object)."""
    return await ctx.session.run_sync(
        lambda sync: sync.connection().execute(_PILGRIM_BY_PORSI, {"porsi": porsi}).one_or_none())


def _remember(ctx: "Ctx", pilgrim: Row[Any]) -> None:
    """Registry facts for the flow's conditions and texts; only ever after the identity check."""
    ctx.state["pilgrim"] = {
        "id": pilgrim.id, "porsi": pilgrim.nomor_porsi, "status": normalize_status(pilgrim.status),
        "transfer_count": pilgrim.transfer_count or 0, "bank": pilgrim.bank or "",
        "tanggal_lahir": pilgrim.tanggal_lahir.isoformat(), "name_masked": mask_name(pilgrim.nama),
        "kab_kota": pilgrim.kab_kota, "provinsi": pilgrim.provinsi, "estimasi_tahun": pilgrim.estimasi_tahun,
        "status_raw": pilgrim.status,
    }


async def lookup_porsi(engine: "DialogueEngine", ctx: "Ctx", flow: "Flow", step: "Step") -> str:
    """No oracle: any well-formed number goes on to the identity question, known or not. Only a porsi already
    verified in this flow is looked up here; otherwise this only checks the requester's failure budget."""
    porsi = _slot(ctx, step)
    if porsi and ctx.state.get("verified") == porsi:
        pilgrim = await _pilgrim(ctx, porsi)
        if pilgrim is not None:
            _remember(ctx, pilgrim)
            return "ok"
    ctx.state["verified"] = None
    ctx.state.pop("pilgrim", None)
    return "locked" if await is_locked(engine, ctx, porsi) else "ok"


async def verify_identity(engine: "DialogueEngine", ctx: "Ctx", flow: "Flow", step: "Step") -> str:
    """Check the birth date / last NIK digits against the registry. An unknown porsi fails exactly like a wrong
    answer for a known one (same reply, same queries); every check counts in the failure budgets."""
    porsi = _slot(ctx, step)
    if porsi and ctx.state.get("verified") == porsi and ctx.state.get("pilgrim"):
        return "ok"
    if await is_locked(engine, ctx, porsi):
        ctx.slots.pop(step.params["answer"], None)
        return "locked"
    pilgrim = await _pilgrim(ctx, porsi)
    answer = str(ctx.slots.pop(step.params["answer"], None) or "")  # never keep the secret once checked
    ok = pilgrim is not None and _matches(answer, pilgrim.tanggal_lahir, pilgrim.nik)
    await _attempt(ctx, porsi, ok, porsi)
    if not ok or pilgrim is None:
        if await is_locked(engine, ctx, porsi):
            ctx.say("identity_failed")
            return "locked"
        return "failed"
    ctx.state["verified"] = porsi
    _remember(ctx, pilgrim)
    ctx.conv.pilgrim_id = pilgrim.id
    return "ok"


async def show_porsi(engine: "DialogueEngine", ctx: "Ctx", flow: "Flow", step: "Step") -> str:
    p = ctx.state.get("pilgrim") or {}
    info = engine.rules.porsi_status.get(p.get("status", "")) or engine.rules.porsi_status["default"]
    year = p.get("estimasi_tahun")
    estimasi = (engine.text("estimasi_value", masehi=year, hijriah=hajj_hijri_year(int(year)))
                if year else engine.text("estimasi_unknown"))
    label = info.label if info.label != "-" else (p.get("status_raw") or "-")
    ctx.say("porsi_status", porsi=p.get("porsi"), nama=p.get("name_masked"), kab_kota_jemaah=p.get("kab_kota"),
            provinsi_jemaah=p.get("provinsi"), status_label=label, estimasi=estimasi, next_steps=info.next)
    return "ok"


def _bump(prefix: str, year: int, delta: int) -> Any:
    return (update(TicketSequence).where(TicketSequence.prefix == prefix, TicketSequence.year == year)
            .values(last_number=TicketSequence.last_number + delta).returning(TicketSequence.last_number)
            .execution_options(synchronize_session=False))


async def _take_number(ctx: "Ctx", prefix: str, year: int) -> int:
    """Atomically take the next number for prefix+year. The UPDATE holds the row (PostgreSQL) or the
    database write lock (SQLite) until the turn commits, so concurrent cases never share a number."""
    number = (await ctx.session.execute(_bump(prefix, year, 1))).scalar_one_or_none()
    if number is not None:
        return int(number)
    try:
        async with ctx.session.begin_nested():
            ctx.session.add(TicketSequence(prefix=prefix, year=year, last_number=1))
        return 1
    except IntegrityError:  # another turn created the row first
        return int((await ctx.session.execute(_bump(prefix, year, 1))).scalar_one())


async def _slot_taken(ctx: "Ctx", start: datetime) -> int:
    return (await ctx.session.execute(select(func.count()).select_from(Appointment).where(
        Appointment.slot_start == start, Appointment.status == "booked"))).scalar_one()


async def create_case(engine: "DialogueEngine", ctx: "Ctx", flow: "Flow", step: "Step") -> str:
    """One transaction with the turn: ticket, case, documents linked, appointment, audit entry. The case's
    fields come from the slots the flow's `case:` declaration names."""
    prefix = str(step.params["prefix"])
    year = ctx.now.astimezone(engine.tz).year
    number = await _take_number(ctx, prefix, year)  # first: it also serialises the capacity check below
    slot_start: datetime | None = None
    book = step.params.get("book")
    if book:
        slot_start = datetime.fromisoformat(ctx.slots[book]).astimezone(timezone.utc)
        if await _slot_taken(ctx, slot_start) >= engine.rules.appointments.capacity:
            await ctx.session.execute(_bump(prefix, year, -1))  # give the number back: no gap
            return "slot_full"
    ticket = f"{prefix}-{year}-{number:05d}"
    pilgrim = ctx.state.get("pilgrim") or {}
    fields = flow.case.fields if flow.case else CaseFields()  # the loader requires `case:` with create_case
    applicant = _field(ctx, fields.applicant_name)
    if applicant is None and pilgrim.get("id"):  # the pilgrim applies in person
        applicant = (await ctx.session.execute(select(Pilgrim.nama).where(Pilgrim.id == pilgrim["id"]))).scalar()
    answers = engine.case_answers(ctx, flow)
    doc_ids = [i for entry in ctx.state.get("docs", {}).values() for i in entry.get("ids", [])]
    case = Case(ticket=ticket, service=flow.service or flow.name,
                variant=_field(ctx, fields.variant), status="submitted",
                conversation_id=ctx.conv.id, pilgrim_id=pilgrim.get("id"), nomor_porsi=_field(ctx, fields.nomor_porsi),
                applicant_name=applicant,
                answers=answers, submitted_at=ctx.now, created_at=ctx.now, updated_at=ctx.now)
    start_clock(case, engine.rules, engine.tz, slot_start or ctx.now)  # service-level clock
    ctx.extra.update(expected_vars(case, engine.rules, engine.lexicon, engine.tz))
    ctx.session.add(case)
    await ctx.session.flush()
    if doc_ids:
        await ctx.session.execute(update(CaseDocument).where(
            CaseDocument.id.in_(doc_ids), CaseDocument.conversation_id == ctx.conv.id,
            CaseDocument.case_id.is_(None)).values(case_id=case.id))
    if slot_start is not None:
        ctx.session.add(Appointment(case_id=case.id, conversation_id=ctx.conv.id, slot_start=slot_start,
                                    purpose=flow.service or flow.name, status="booked", created_at=ctx.now))
    ctx.session.add(AuditLog(at=ctx.now, actor="bot", action="case_created", case_id=case.id,
                             conversation_id=ctx.conv.id,
                             detail={"ticket": ticket, "service": case.service, "documents": len(doc_ids)}))
    await ctx.session.flush()
    ctx.state["ticket"] = ticket
    ctx.extra["ticket"] = ticket
    return "ok"


async def prepare_letters(engine: "DialogueEngine", ctx: "Ctx", flow: "Flow", step: "Step") -> str:
    """After create_case: the ready-to-sign letters of the new case, attached to it and sent in the chat.
    A failure to render is told to the pilgrim and logged; the case stays (staff can regenerate)."""
    case = await case_by_ticket(ctx.session, ctx.state.get("ticket"))
    if case is None:
        return "none"
    try:
        letters = await make_letters(engine, ctx.session, ctx.files, case, ctx.now, "bot")
    except SQLAlchemyError:
        raise
    except Exception as exc:  # noqa: BLE001 - rendering/storing happens before any write: the turn goes on
        log.error("letters for case %s could not be made: %s", case.id, type(exc).__name__)
        ctx.say("letters_failed")
        return "failed"
    if not letters:
        return "none"
    ctx.replies.append(Reply(letters_message(engine, case, letters, "letters_ready"),
                             attachments=[g.attachment for g in letters]))
    return "ok"


async def free_slots(engine: "DialogueEngine", ctx: "Ctx") -> list[datetime]:
    """Upcoming slot starts (UTC) with room left, in time order."""
    rules = engine.rules.appointments
    candidates = [c.astimezone(timezone.utc)  # store and compare in UTC (SQLite keeps the digits as given)
                  for c in candidate_slots(ctx.now, rules, engine.rules.holidays, engine.tz)]
    if not candidates:
        return []
    rows = (await ctx.session.execute(
        select(Appointment.slot_start, func.count()).where(
            Appointment.status == "booked", Appointment.slot_start >= candidates[0],
            Appointment.slot_start <= candidates[-1]).group_by(Appointment.slot_start))).all()
    taken = {r[0].astimezone(timezone.utc): r[1] for r in rows}
    return [c for c in candidates if taken.get(c.astimezone(timezone.utc), 0) < rules.capacity]


def slot_option(engine: "DialogueEngine", start: datetime) -> dict[str, Any]:
    """A slot as a choice: stored value (ISO, UTC), label and the ways to name it."""
    return {"value": start.isoformat(), "label": engine.when_label(start, "slot_label"),
            "words": _slot_words(engine, start)}


async def book_slot(engine: "DialogueEngine", ctx: "Ctx", start: datetime, case_id: int | None,
                    purpose: str) -> Appointment | None:
    """Book `start` as the one active booking of the case (or, without a case, of the conversation): other
    bookings are cancelled. None when the slot is full (nothing changes)."""
    if await _slot_taken(ctx, start) >= engine.rules.appointments.capacity:
        return None
    scope = Appointment.case_id == case_id if case_id is not None else Appointment.conversation_id == ctx.conv.id
    await ctx.session.execute(update(Appointment).where(scope, Appointment.status == "booked")
                              .values(status="cancelled"))
    appointment = Appointment(case_id=case_id, conversation_id=ctx.conv.id, slot_start=start, purpose=purpose[:40],
                              status="booked", created_at=ctx.now)
    ctx.session.add(appointment)
    await ctx.session.flush()
    return appointment


async def offer_slots(engine: "DialogueEngine", ctx: "Ctx", flow: "Flow", step: "Step") -> str:
    rules = engine.rules.appointments
    free = (await free_slots(engine, ctx))[:rules.offer_count]
    if not free:
        return "none"
    ctx.state.setdefault("options", {})["appointment"] = [slot_option(engine, c) for c in free]
    return "ok"


def _slot_words(engine: "DialogueEngine", start: datetime) -> list[str]:
    """Ways to name a slot: 'kamis', 'kamis jam 10', 'kamis 10.00', '26 november', '26 november jam 10'."""
    local = start.astimezone(engine.tz)
    day = engine.lexicon.weekday_names[local.weekday()].lower()
    month = engine.lexicon.month_names[local.month - 1].lower()
    hour, hhmm = str(local.hour), local.strftime("%H.%M")
    words = [day, f"{local.day} {month}"]
    for when in (day, f"{local.day} {month}", f"{day} {local.day} {month}"):
        words += [f"{when} jam {hour}", f"{when} pukul {hour}", f"{when} {hhmm}", f"{when} jam {hhmm}",
                  f"{when} pukul {hhmm}"]
    return words


async def missing_items(engine: "DialogueEngine", ctx: "Ctx", case: Case) -> list[str]:
    """Names of required checklist items of a case with no usable document."""
    checklist = engine.rules.checklists.get(str((case.answers or {}).get("_checklist") or ""))
    if checklist is None:
        return []
    keys = set((await ctx.session.execute(select(CaseDocument.item_key).where(
        CaseDocument.case_id == case.id, CaseDocument.status.in_(("received", "accepted"))))).scalars())
    return [i.name for i in checklist.items if not i.optional and i.key not in keys]


def _expected(engine: "DialogueEngine", case: Case, key: str) -> str:
    """The expected completion for a status reply ('' without a running clock); while the case waits for the
    pilgrim, that the clock stands still instead."""
    if case.sla_paused_at is not None and case.sla_stage is not None:
        return engine.text(f"{key}_paused")
    values = expected_vars(case, engine.rules, engine.lexicon, engine.tz)
    if values["expected_date"] is None:
        return ""
    return engine.text(f"{key}_expected", expected_date=values["expected_date"],
                       stage_label=values["stage_label"], stage_due_date=values["stage_due_date"] or "-")


async def _say_case(engine: "DialogueEngine", ctx: "Ctx", case: Case, key: str) -> None:
    missing = await missing_items(engine, ctx, case)
    ctx.say(key, ticket=case.ticket, service_label=engine.mapping("service_labels", case.service),
            expected=_expected(engine, case, key),
            status_label=engine.mapping("case_status_labels", case.status),
            submitted=format_date(case.submitted_at.astimezone(engine.tz).date(), engine.lexicon)
            if case.submitted_at else "-",
            missing=engine.text("case_missing", items=", ".join(missing)) if missing else "")


def _owned(ctx: "Ctx") -> Any:
    """Cases this conversation may see without a check: the ones it created, and those of the pilgrim whose
    identity it verified (Conversation.pilgrim_id)."""
    mine = Case.conversation_id == ctx.conv.id
    if ctx.conv.pilgrim_id is None:
        return mine
    return or_(mine, and_(Case.pilgrim_id.is_not(None), Case.pilgrim_id == ctx.conv.pilgrim_id))


async def find_cases(engine: "DialogueEngine", ctx: "Ctx", flow: "Flow", step: "Step") -> str:
    """The conversation's own cases; a ticket that was named is left to show_case (ownership, verification)."""
    if _slot(ctx, step):
        return "none"
    cases = (await ctx.session.execute(select(Case).where(_owned(ctx))
                                       .order_by(Case.id.desc()).limit(10))).scalars().all()
    if not cases:
        return "none"
    ctx.say("case_list_header")
    for case in cases:
        await _say_case(engine, ctx, case, "case_line")
    ctx.merge_last(len(cases) + 1)
    return "shown"


async def show_case(engine: "DialogueEngine", ctx: "Ctx", flow: "Flow", step: "Step") -> str:
    """Shows a case to the conversation that owns it; anyone else - for a real or a made-up ticket alike - is
    asked the identity question first ("verify"), or told to wait when over the failure budget ("locked")."""
    ticket = _slot(ctx, step)
    case = (await ctx.session.execute(select(Case).where(Case.ticket == ticket, _owned(ctx)))).scalar_one_or_none()
    if case is not None:
        await _say_case(engine, ctx, case, "case_detail")
        return "ok"
    return "locked" if await is_locked(engine, ctx, ticket) else "verify"


async def find_registered(engine: "DialogueEngine", ctx: "Ctx", flow: "Flow", step: "Step") -> str:
    """No NIK oracle: only a conversation verified as the pilgrim with this NIK is told that it is already on
    the waiting list ("registered"). Anyone else continues the same way for any NIK (the flow tells everyone
    that the office checks the NIK at the visit); a NIK found in the registry is flagged on the case for staff."""
    nik = _slot(ctx, step)
    owner_nik = None
    if ctx.conv.pilgrim_id is not None:
        owner_nik = (await ctx.session.execute(select(Pilgrim.nik).where(Pilgrim.id == ctx.conv.pilgrim_id))).scalar()
    on_list = (await ctx.session.execute(select(Pilgrim.id).where(Pilgrim.nik == nik).limit(1))).scalar()
    if owner_nik and nik and hmac.compare_digest(owner_nik.encode(), nik.encode()):
        return "registered"
    if on_list:
        ctx.slots[REGISTRY_FLAG] = True
    else:
        ctx.slots.pop(REGISTRY_FLAG, None)
    return "ok"


async def recipient_not_owner(engine: "DialogueEngine", ctx: "Ctx", flow: "Flow", step: "Step") -> str:
    """Pelimpahan goes to another person: the recipient's NIK must not be the porsi owner's."""
    pilgrim_id = (ctx.state.get("pilgrim") or {}).get("id")
    if not pilgrim_id:
        return "ok"
    owner_nik = (await ctx.session.execute(select(Pilgrim.nik).where(Pilgrim.id == pilgrim_id))).scalar()
    return "same_person" if owner_nik and owner_nik == _slot(ctx, step) else "ok"


async def _case_identity(ctx: "Ctx", case: Case | None) -> tuple[Any, Any]:
    """Birth date and NIK that verify a case: the registry pilgrim's, else the applicant's answers
    (pendaftaran: a new applicant is not in the registry yet)."""
    if case is None:
        return None, None
    if case.pilgrim_id is not None:
        row = (await ctx.session.execute(select(Pilgrim.tanggal_lahir, Pilgrim.nik)
                                         .where(Pilgrim.id == case.pilgrim_id))).first()
        if row is not None:
            return row[0], row[1]
    answers = case.answers or {}
    return answers.get("dob"), answers.get("nik")


async def verify_case(engine: "DialogueEngine", ctx: "Ctx", flow: "Flow", step: "Step") -> str:
    """A ticket this conversation does not own is shown after the birth date / last NIK digits of its pilgrim
    (or applicant) match. A made-up ticket fails exactly like a wrong answer; every check is budgeted."""
    ticket = _slot(ctx, step)
    if await is_locked(engine, ctx, ticket):
        ctx.slots.pop(step.params["answer"], None)
        return "locked"
    case = (await ctx.session.execute(select(Case).where(Case.ticket == ticket))).scalar_one_or_none()
    birth_date, nik = await _case_identity(ctx, case)
    answer = str(ctx.slots.pop(step.params["answer"], None) or "")
    ok = case is not None and _matches(answer, birth_date, nik)
    await _attempt(ctx, ticket, ok)
    if not ok or case is None:
        if await is_locked(engine, ctx, ticket):
            ctx.say("case_identity_failed")
            return "locked"
        return "failed"
    await _say_case(engine, ctx, case, "case_detail")
    return "ok"


ACTIONS: dict[str, Action] = {
    "lookup_porsi": lookup_porsi, "verify_identity": verify_identity, "show_porsi": show_porsi,
    "create_case": create_case, "prepare_letters": prepare_letters, "offer_slots": offer_slots,
    "find_cases": find_cases, "show_case": show_case,
    "find_registered": find_registered, "recipient_not_owner": recipient_not_owner, "verify_case": verify_case,
}


def answers_for_case(slots: dict[str, Any], flow: "Flow") -> dict[str, Any]:
    """The answers a case keeps: all but identity answers (birth date / NIK digits used as a secret)."""
    private = set(flow.slots_of("identity"))
    return {k: v for k, v in slots.items() if k not in private}
