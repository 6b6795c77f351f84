"""Flow actions: the only dialogue code that reads or writes the database.

Each action takes (engine, ctx, flow, step) and returns a result name that the flow maps to an outcome
(`results:` in the YAML); an unmapped result continues with the next step.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from dialogues.calendar import candidate_slots, hajj_hijri_year
from dialogues.parsing import format_date, mask_name
from dialogues.sla_hooks import expected_vars, start_clock
from storage.models import Appointment, AuditLog, Case, CaseDocument, Pilgrim, TicketSequence, VerificationAttempt

if TYPE_CHECKING:
    from dialogues.engine import Ctx, DialogueEngine
    from dialogues.schema import Flow, Step

LOCK_WINDOW = timedelta(hours=1)
LOCK_AFTER_FAILURES = 5
PRIVATE_SLOTS = ("identity",)

Action = Callable[["DialogueEngine", "Ctx", "Flow", "Step"], Awaitable[str]]


def normalize_status(status: str | None) -> str:
    return (status or "").strip().lower().replace(" ", "_").replace("-", "_")


async def is_locked(ctx: "Ctx", porsi: str | None) -> bool:
    """Locked for an hour after the fifth failed verification within an hour, counted per porsi and per
    conversation (unknown porsi numbers count too, so numbers cannot be enumerated)."""
    since = ctx.now - 2 * LOCK_WINDOW
    base = select(VerificationAttempt.at).where(VerificationAttempt.success.is_(False),
                                                 VerificationAttempt.at >= since)
    scopes = [VerificationAttempt.conversation_id == ctx.conv.id]
    if porsi:
        scopes.append(VerificationAttempt.nomor_porsi == porsi)
    for scope in scopes:
        times = sorted(t if t.tzinfo else t.replace(tzinfo=timezone.utc)
                       for t in (await ctx.session.execute(base.where(scope))).scalars())
        n = LOCK_AFTER_FAILURES
        for i in range(n - 1, len(times)):
            if times[i] - times[i - n + 1] <= LOCK_WINDOW and ctx.now - times[i] < LOCK_WINDOW:
                return True
    return False


async def _attempt(ctx: "Ctx", porsi: str, success: bool) -> None:
    ctx.session.add(VerificationAttempt(conversation_id=ctx.conv.id, nomor_porsi=porsi, success=success, at=ctx.now))
    await ctx.session.flush()


async def lookup_porsi(engine: "DialogueEngine", ctx: "Ctx", flow: "Flow", step: "Step") -> str:
    porsi = ctx.slots.get("porsi")
    if await is_locked(ctx, porsi):
        return "locked"
    pilgrim = (await ctx.session.execute(select(Pilgrim).where(Pilgrim.nomor_porsi == porsi))).scalar_one_or_none()
    if pilgrim is None:
        await _attempt(ctx, porsi or "", False)  # unknown numbers count too: this stops enumeration
        return "not_found"
    if ctx.state.get("verified") != porsi:
        ctx.state["verified"] = None
    ctx.state["pilgrim"] = {
        "id": pilgrim.id, "porsi": pilgrim.nomor_porsi, "status": normalize_status(pilgrim.status),
        "transfer_count": pilgrim.transfer_count or 0, "bank": pilgrim.bank or "",
        "tanggal_lahir": pilgrim.tanggal_lahir.isoformat(), "name_masked": mask_name(pilgrim.nama),
        "kab_kota": pilgrim.kab_kota, "provinsi": pilgrim.provinsi, "estimasi_tahun": pilgrim.estimasi_tahun,
        "status_raw": pilgrim.status,
    }
    return "ok"


async def verify_identity(engine: "DialogueEngine", ctx: "Ctx", flow: "Flow", step: "Step") -> str:
    porsi = ctx.slots.get("porsi")
    if ctx.state.get("verified") == porsi and porsi:
        return "ok"
    if await is_locked(ctx, porsi):
        return "locked"
    pilgrim = (await ctx.session.execute(select(Pilgrim).where(Pilgrim.nomor_porsi == porsi))).scalar_one_or_none()
    answer = str(ctx.slots.get("identity") or "")
    ok = pilgrim is not None and (
        answer == pilgrim.tanggal_lahir.isoformat()
        or (answer.startswith("nik:") and len(pilgrim.nik) >= 4 and answer[4:] == pilgrim.nik[-4:]))
    await _attempt(ctx, porsi or "", ok)
    if not ok:
        return "locked" if await is_locked(ctx, porsi) else "failed"
    ctx.state["verified"] = porsi
    ctx.slots.pop("identity", None)  # never keep the secret once checked
    ctx.conv.pilgrim_id = pilgrim.id if pilgrim else None
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
    """One transaction with the turn: ticket, case, documents linked, appointment, audit entry."""
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
    applicant = ctx.slots.get("applicant_name") or ctx.slots.get("recipient_name")
    if applicant is None and pilgrim.get("id"):  # the pilgrim applies in person
        applicant = (await ctx.session.execute(select(Pilgrim.nama).where(Pilgrim.id == pilgrim["id"]))).scalar()
    answers = engine.case_answers(ctx, flow)
    doc_ids = [i for entry in ctx.state.get("docs", {}).values() for i in entry.get("ids", [])]
    case = Case(ticket=ticket, service=flow.service or flow.name,
                variant=ctx.slots.get("variant") or ctx.slots.get("reason"), status="submitted",
                conversation_id=ctx.conv.id, pilgrim_id=pilgrim.get("id"), nomor_porsi=ctx.slots.get("porsi"),
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


async def offer_slots(engine: "DialogueEngine", ctx: "Ctx", flow: "Flow", step: "Step") -> str:
    rules = engine.rules.appointments
    candidates = [c.astimezone(timezone.utc)  # store and compare in UTC (SQLite keeps the digits as given)
                  for c in candidate_slots(ctx.now, rules, engine.rules.holidays, engine.tz)]
    if not candidates:
        return "none"
    rows = (await ctx.session.execute(
        select(Appointment.slot_start, func.count()).where(
            Appointment.status == "booked", Appointment.slot_start >= candidates[0],
            Appointment.slot_start <= candidates[-1]).group_by(Appointment.slot_start))).all()
    taken = {r[0].astimezone(timezone.utc): r[1] for r in rows}
    free = [c for c in candidates if taken.get(c.astimezone(timezone.utc), 0) < rules.capacity][:rules.offer_count]
    if not free:
        return "none"
    ctx.state.setdefault("options", {})["appointment"] = [
        {"value": c.isoformat(), "label": engine.when_label(c, "slot_label"), "words": _slot_words(engine, c)}
        for c in free]
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


async def _say_case(engine: "DialogueEngine", ctx: "Ctx", case: Case, key: str) -> None:
    missing = await missing_items(engine, ctx, case)
    ctx.say(key, ticket=case.ticket, service_label=engine.mapping("service_labels", case.service),
            status_label=engine.mapping("case_status_labels", case.status),
            submitted=format_date(case.submitted_at.astimezone(engine.tz).date(), engine.lexicon)
            if case.submitted_at else "-",
            missing=engine.text("case_missing", items=", ".join(missing)) if missing else "")


async def find_cases(engine: "DialogueEngine", ctx: "Ctx", flow: "Flow", step: "Step") -> str:
    if ctx.slots.get("ticket"):
        result = await show_case(engine, ctx, flow, step)
        if result == "ok":
            return "shown"
        ctx.say("ticket_not_found", ticket=ctx.slots.pop("ticket"))
    cases = (await ctx.session.execute(select(Case).where(Case.conversation_id == ctx.conv.id)
                                       .order_by(Case.id.desc()).limit(10))).scalars().all()
    if not cases:
        return "none"
    ctx.say("case_list_header")
    for case in cases:
        await _say_case(engine, ctx, case, "case_line")
    ctx.merge_last(len(cases) + 1)
    return "shown"


async def show_case(engine: "DialogueEngine", ctx: "Ctx", flow: "Flow", step: "Step") -> str:
    case = (await ctx.session.execute(select(Case).where(Case.ticket == ctx.slots.get("ticket")))).scalar_one_or_none()
    if case is None:
        return "not_found"
    await _say_case(engine, ctx, case, "case_detail")
    return "ok"


async def find_registered(engine: "DialogueEngine", ctx: "Ctx", flow: "Flow", step: "Step") -> str:
    """Is the NIK in `params.slot` already in the porsi registry (on the waiting list)?"""
    nik = ctx.slots.get(str(step.params.get("slot", "nik")))
    found = (await ctx.session.execute(select(Pilgrim.id).where(Pilgrim.nik == nik).limit(1))).scalar()
    return "registered" if found else "ok"


async def recipient_not_owner(engine: "DialogueEngine", ctx: "Ctx", flow: "Flow", step: "Step") -> str:
    """Pelimpahan goes to another person: the recipient's NIK must not be the porsi owner's."""
    pilgrim_id = (ctx.state.get("pilgrim") or {}).get("id")
    if not pilgrim_id:
        return "ok"
    owner_nik = (await ctx.session.execute(select(Pilgrim.nik).where(Pilgrim.id == pilgrim_id))).scalar()
    return "same_person" if owner_nik and owner_nik == ctx.slots.get("recipient_nik") else "ok"


ACTIONS: dict[str, Action] = {
    "lookup_porsi": lookup_porsi, "verify_identity": verify_identity, "show_porsi": show_porsi,
    "create_case": create_case, "offer_slots": offer_slots, "find_cases": find_cases, "show_case": show_case,
    "find_registered": find_registered, "recipient_not_owner": recipient_not_owner,
}


def answers_for_case(slots: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in slots.items() if k not in PRIVATE_SLOTS}
