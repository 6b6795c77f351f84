"""Dialogue engine: runs the declarative flows (dialogues/flows/*.yml) on the conversation's stored state.

Public interface (used by bot/core/pipeline.py and the back office):

- `DialogueEngine.load(settings, office, base_dir)` loads and validates flows, responses and rules;
  raises `DialogueConfigError` with a one-line message (file, line, problem).
- `await engine.step(session, files, turn) -> list[Reply]` runs one turn inside the caller's transaction
  and puts the new state in `turn.conversation.state` (never commits; the pipeline writes the row).
- `engine.render(key, **vars) -> str` renders any response template (office variables are filled in),
  e.g. for staff notifications: `engine.render("case_detail", ticket=..., ...)`.
- `await engine.request_document_resend(session, conversation, case, item_key, reason) -> list[Reply]`
  asks the pilgrim for a new file for one checklist item of a case; the next file(s) they send become new
  CaseDocument rows (status `received`) of that case and item, and older ones are marked `replaced`.
  The caller stores the returned replies as outbound messages and commits; the conversation must be in
  mode "bot" (the pipeline only calls the engine then). Text without a file ends the resend state.

State (conversation.state, JSON): flow, step (the step waiting for input), slots, fails (per step),
pending (a yes/no or pick question of the engine itself), docs (per checklist item: status + document ids),
doc_item, pilgrim (registry facts for conditions), verified (porsi verified in this flow), options
(dynamic choices), last_choices (menu shown last), updated_at, resend, awaiting (staff wait for the pilgrim's
reply to a case: dialogues/casereplies.py), aborted_form (a stopped form that "lanjut" brings back:
dialogues/stopping.py).
"""
from __future__ import annotations

import copy
import re
from collections.abc import Callable
from datetime import date, datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from dialogues import actions
from dialogues.calendar import hours_label
from dialogues.answers import Reading, interpret, named_options, read_choice, read_yes_no, resolve_yes_no_askback
from dialogues.collect import Collection
from dialogues.conditions import MISSING, evaluate
from dialogues.config import Bundle, load_bundle
from dialogues.documents import Inspection
from dialogues.context import FLOW_KEYS, INFO_INTENTS, MAX_LOOP, Ctx, original_span
from dialogues.booking import Booking
from dialogues.casereplies import CaseReplies
from dialogues.corrections import Corrections
from dialogues.frontdesk import FrontDesk
from dialogues.letter_templates import LetterTemplate, load_letters
from dialogues.parsing import contains_phrase, format_date, is_only, normalize, pick_option
from dialogues.render import render_template, static_text
from dialogues.replies import Reply
from dialogues.schema import Flow, Outcome, Step
from dialogues.stopping import Stopping
from dialogues.settings import DialogueSettings, OfficeSettings
from dialogues.turn import Turn
from dialogues.validators import Choice, ValidationContext, looks_like_question, validate
from storage.files import FileStore, StoredFile
from storage.message_path import ConversationRow
from storage.models import Case, Conversation


WORD_VALIDATORS = ("choice", "yesno")  # answers in words: retried on the NLU's normalised text


def copy_state(state: dict[str, Any] | None) -> dict[str, Any]:
    """A copy of a conversation state that shares nothing with it, for the step to change: a step that fails
    leaves the conversation's state as it was. The state is what its JSON column stores (through orjson), so
    a JSON round trip copies it (giving what a reload from the database gives), several times faster than
    copy.deepcopy; a value orjson cannot write (never in a stored state) falls back to copy.deepcopy."""
    try:
        return orjson.loads(orjson.dumps(state or {}, option=orjson.OPT_NON_STR_KEYS))
    except orjson.JSONEncodeError:
        return copy.deepcopy(dict(state or {}))


T = TypeVar("T")


class DialogueEngine:
    """Runs one dialogue turn (`step`). The flow runner (asking, reading and accepting answers) is here; the
    rest is done by collaborators built with the engine: `front_desk` (outside a flow), `corrections`,
    `collection` (documents, summary, case answers), `stopping`, `case_replies` and `booking`. The order of one
    turn is `_dispatch`."""

    def __init__(self, bundle: Bundle, office: OfficeSettings, settings: DialogueSettings) -> None:
        self.bundle = bundle
        self.rules = bundle.rules
        self.lexicon = bundle.rules.language
        self.office = office
        self.settings = settings
        self.tz = ZoneInfo(office.timezone)
        self.flows = bundle.flows
        self.office_hours = office.hours or hours_label(self.rules.office_hours, self.lexicon.weekday_names, self.tz)
        self.letters: list[LetterTemplate] = []  # ready-to-sign letters (dialogues/letters/*.yml)
        self.letter_logo: str | None = office.logo
        self.front_desk = FrontDesk(self)
        self.corrections = Corrections(self)
        self.collection = Collection(self)
        self.stopping = Stopping(self)
        self.case_replies = CaseReplies(self)
        self.booking = Booking(self)

    # ------------------------------------------------------------------ public API

    @classmethod
    def load(cls, settings: DialogueSettings, office: OfficeSettings, base_dir: Path) -> "DialogueEngine":
        """Load and validate flows, responses and rules; raises DialogueConfigError on invalid files."""
        base = Path(base_dir)
        bundle = load_bundle(base / settings.flows_dir, base / settings.responses_dir, base / settings.rules_dir)
        engine = cls(bundle, office, settings)
        engine.letters = load_letters(base / settings.letters_dir, engine.answer_names())
        if office.logo:
            engine.letter_logo = str(base / office.logo)
        return engine

    def answer_names(self) -> set[str]:
        """Every answer a case may store: the flows' slots, and `<slot>_label` for choices."""
        names: set[str] = set()
        for flow in self.flows.values():
            for step in flow.steps:
                for slot in (step.slot, step.other_slot):
                    if slot:
                        names.add(slot)
                if step.slot and step.validator == "choice":
                    names.add(f"{step.slot}_label")
        return names

    def render(self, key: str, **values: Any) -> str:
        """Render a response template with the office variables and `values` (for notifications)."""
        return self.text(key, None, **values)

    async def step(self, session: AsyncSession, files: FileStore, turn: Turn) -> list[Reply]:
        """Run one turn; reads/writes through `session` in the caller's transaction."""
        now = turn.now or datetime.now(timezone.utc)
        now = now.replace(tzinfo=timezone.utc) if now.tzinfo is None else now.astimezone(timezone.utc)
        ctx = Ctx(self, session, files, turn, copy_state(turn.conversation.state), now)
        await self._dispatch(ctx)
        ctx.state["updated_at"] = now.isoformat()
        turn.conversation.state = ctx.state
        return ctx.replies

    def in_progress(self, conversation: Conversation | ConversationRow) -> bool:
        """True while the conversation is inside a flow or waits for an answer to a question of the bot."""
        state = conversation.state or {}
        return bool(state.get("flow") or state.get("pending") or state.get("resend"))

    async def request_document_resend(self, session: AsyncSession, conversation: Conversation, case: Case,
                                      item_key: str, reason: str) -> list[Reply]:
        """Ask for a new file for `item_key` of `case`; the next file(s) received are attached to it."""
        name = self.collection.item_name(case, item_key)
        state = copy.deepcopy(dict(conversation.state or {}))
        state["resend"] = {"case_id": case.id, "ticket": case.ticket, "item_key": item_key, "name": name, "ids": []}
        conversation.state = state
        return [Reply(self.text("resend_prompt", None, ticket=case.ticket, name=name, reason=reason))]

    async def check_files(self, files: FileStore, stored: list[StoredFile]) -> dict[tuple[str, str], Inspection]:
        """Inspect the document files of a message before its conversation is locked (see Collection)."""
        return await self.collection.check_files(files, stored)

    def case_answers(self, ctx: Ctx, flow: Flow) -> dict[str, Any]:
        """What a case created by `flow` stores of the answers (see Collection)."""
        return self.collection.case_answers(ctx, flow)

    def await_reply(self, conversation: Conversation, case: Case, kind: str, now: datetime) -> None:
        """Staff wait for the pilgrim's reply to `case` (see CaseReplies)."""
        self.case_replies.await_reply(conversation, case, kind, now)

    def stop_awaiting(self, conversation: Conversation, case: Case) -> None:
        """Staff no longer wait for a reply to `case` (see CaseReplies)."""
        self.case_replies.stop_awaiting(conversation, case)

    # ------------------------------------------------------------------ text

    def text(self, key: str, ctx: Ctx | None = None, **values: Any) -> str:
        fixed = self._fixed_texts.get(key)
        if fixed is not None:  # no variables (most labels and buttons): nothing to gather
            return fixed
        template = self.bundle.responses[key]
        if not isinstance(template, str):
            raise KeyError(f"response '{key}' is not a text template")
        merged = self.base_vars()
        if ctx is not None:
            merged.update(self._ctx_vars(ctx))
        merged.update(values)
        return render_template(template, merged)

    @cached_property
    def _fixed_texts(self) -> dict[str, str]:
        """The rendered text of every response template without variables, by key."""
        fixed = {}
        for key, template in self.bundle.responses.items():
            try:
                text = static_text(template) if isinstance(template, str) else None
            except ValueError:  # a broken template fails when it is used, as before
                continue
            if text is not None:
                fixed[key] = text
        return fixed

    def items(self, key: str) -> list[str]:
        return [str(v) for v in self.bundle.responses[key]]

    def mapping(self, key: str, value: str | None) -> str:
        table = self.bundle.responses[key]
        return str(table.get(value or "", table.get("default", value or "-")))

    def when_label(self, moment: datetime, key: str) -> str:
        local = moment.astimezone(self.tz)
        return self.text(key, None, weekday=self.lexicon.weekday_names[local.weekday()],
                         date=format_date(local.date(), self.lexicon), time=local.strftime("%H.%M"))

    def base_vars(self) -> dict[str, Any]:
        """The office and rule variables of every template (a new dict each call)."""
        return dict(self._base_values)

    @cached_property
    def _base_values(self) -> dict[str, Any]:
        """Built on first use: the office, rules and settings do not change after `load`."""
        r = self.rules
        allowed = [x.label for x in r.pelimpahan.relationships if x.allowed]
        return {
            "office_name": self.office.name, "office_address": self.office.address, "office_phone": self.office.phone,
            "office_hours": self.office_hours, "kab_kota": self.office.kab_kota, "provinsi": self.office.provinsi,
            "death_date_cutoff": format_date(r.pelimpahan.death_date_cutoff, self.lexicon),
            "death_date_basis": r.pelimpahan.death_date_basis, "min_recipient_age": r.pelimpahan.min_recipient_age,
            "min_recipient_age_basis": r.pelimpahan.min_recipient_age_basis,
            "max_transfers_basis": r.pelimpahan.max_transfers_basis, "min_age": r.pendaftaran.min_age,
            "min_age_basis": r.pendaftaran.min_age_basis, "hajj_repeat_years": r.pendaftaran.hajj_repeat_years,
            "hajj_repeat_basis": r.pendaftaran.hajj_repeat_basis, "setoran_awal": r.pendaftaran.setoran_awal,
            "allowed_relationships": ", ".join(allowed),
            "max_mb": round(self.settings.max_upload_bytes / (1024 * 1024), 1),
            "banks_basis": r.banks.basis if r.banks else "",
        }

    def _ctx_vars(self, ctx: Ctx) -> dict[str, Any]:
        out: dict[str, Any] = {}
        flow = self.flow(ctx)
        steps = self._slot_steps(flow) if flow else {}
        for slot, value in ctx.slots.items():
            out[slot] = self._display(value)
            step = steps.get(slot)
            if step is not None and step.validator == "choice":
                label = next((c.label for c in self.choices(ctx, step) if c.value == value), None)
                out[f"{slot}_label"] = label
        p = ctx.state.get("pilgrim") or {}
        out.update(pilgrim_name_masked=p.get("name_masked"), pilgrim_bank=p.get("bank") or None,
                   flow_title=self.text(flow.title) if flow else "")
        out.update(ctx.extra)
        return out

    def _display(self, value: Any) -> Any:
        if isinstance(value, bool):
            return self.text("yes_value") if value else self.text("no_value")
        if isinstance(value, str) and len(value) == 10 and value[4] == "-" and value[7] == "-":
            try:
                return format_date(date.fromisoformat(value), self.lexicon)
            except ValueError:
                return value
        return value

    # ------------------------------------------------------------------ dispatch

    def flow(self, ctx: Ctx) -> Flow | None:
        name = ctx.state.get("flow")
        return self.flows.get(name) if name else None

    async def _dispatch(self, ctx: Ctx) -> None:
        """One turn; the first part that takes the message answers it:
        1. files for a document staff asked to be sent again (collection);
        2. a message for a case already at the office, or media the bot cannot read (case_replies);
        3. the answer to the engine's own pending question (confirm, stop, switch, resume, ask-back ...);
        4. a flow left for longer than the resume window: offer to resume;
        5. a request for staff (front_desk);
        inside a flow: 6. stop or opt-out (stopping), 7. a corrected answer (corrections), 8. the current step;
        outside: 9. a stopped form resumed (stopping) or a booked visit changed (booking), 10. the front desk."""
        lex = self.lexicon
        if ctx.state.get("resend"):
            if ctx.turn.files:
                await self.collection.resend_files(ctx)
                return
            if ctx.text:
                ctx.state.pop("resend", None)
        if await self.case_replies.case_reply(ctx):  # media, a reply to staff, a late document for an open case
            return
        pending = ctx.state.get("pending")
        if pending and await self._pending(ctx, pending):
            return
        flow = self.flow(ctx)
        if flow and not pending and self._stale(ctx):
            ctx.state["pending"] = {"kind": "resume"}
            ctx.say("resume_offer", choices=self._resume_choices())
            return
        if self.wants_handoff(ctx):
            await self.front_desk.handoff(ctx)
            return
        if flow:
            if await self.stopping.stop_request(ctx, flow):
                return
            if self._wants_stop(ctx) or is_only(ctx.text, lex.menu):
                self.stopping.ask_abort(ctx)
                return
            if await self.corrections.correction(ctx, flow):
                return
            await self._flow_input(ctx, flow)
            return
        if await self.stopping.resume_aborted(ctx) or await self.booking.booking_request(ctx):
            return
        await self.front_desk.top_level(ctx)

    def _stale(self, ctx: Ctx) -> bool:
        raw = ctx.state.get("updated_at")
        if not raw:
            return False
        try:
            last = datetime.fromisoformat(raw)
        except ValueError:
            return False
        return (ctx.now - last).total_seconds() > self.settings.resume_window_hours * 3600

    def wants_handoff(self, ctx: Ctx) -> bool:
        if ctx.intent == "human_handoff" and ctx.confidence >= 0.6:
            return True
        return bool(ctx.text) and len(normalize(ctx.text).split()) <= 5 and \
            contains_phrase(ctx.text, self.lexicon.handoff) is not None

    def _wants_stop(self, ctx: Ctx) -> bool:
        if is_only(ctx.text, self.lexicon.stop):
            return True
        words = normalize(ctx.text).split()
        return bool(words) and len(words) <= 5 and contains_phrase(ctx.text, self.lexicon.stop) is not None

    def yes_no(self) -> list[str]:
        return [self.text("choice_yes"), self.text("choice_no")]

    def _resume_choices(self) -> list[str]:
        return [self.text("choice_resume"), self.text("choice_restart"), self.text("choice_menu")]

    def answer_yes_no(self, ctx: Ctx) -> bool | None:
        """Yes/no to the engine's own questions (confirm, stop, switch, hand-off); None when unclear."""
        reading = read_yes_no(ctx.readings, self.lexicon, ctx.intent, ctx.confidence)
        return reading.value if reading.answered else None

    async def _pending(self, ctx: Ctx, pending: dict[str, Any]) -> bool:
        """Handle the engine's own question; False means 'not an answer to it, process normally'."""
        kind = pending.get("kind")
        flow = self.flow(ctx)
        if kind in ("abort", "stop_which"):
            return await self.stopping.stop_pending(ctx, pending)
        if kind in self.case_replies.CASE_PENDING:
            return await self.case_replies.case_pending(ctx, pending)
        if kind in self.booking.BOOKING_PENDING:
            return await self.booking.booking_pending(ctx, pending)
        if kind == "resume":
            labels = self._resume_choices()
            lex = self.lexicon
            idx = pick_option(ctx.text, labels, [lex.resume + lex.yes_words, lex.restart, lex.menu + lex.no_words])
            ctx.state.pop("pending", None)
            if idx == 0 and flow:
                await self.reprompt(ctx, flow)
            elif idx == 1 and flow:
                ctx.say("restarted")
                await self.start_flow(ctx, flow, "", {})
            else:
                self.finish(ctx)
                self.front_desk.menu(ctx)
            return True
        if kind == "askback":
            return await self._resolve_askback(ctx, pending)
        if kind == "correct":
            options = pending.get("options", [])
            idx = pick_option(ctx.text, [o["label"] for o in options], [[] for _ in options])
            ctx.state.pop("pending", None)
            if idx is None or flow is None:
                return False
            await self.corrections.apply_correction(ctx, flow, options[idx])
            return True
        answer = self.answer_yes_no(ctx)
        if answer is None:
            ctx.state.pop("pending", None)
            return False
        ctx.state.pop("pending", None)
        if kind == "switch":
            target = self.flows.get(str(pending.get("flow")))
            if answer and target is not None:
                await self.start_flow(ctx, target, str(pending.get("text") or ""), {})
            elif flow:
                ctx.say("handoff_declined")
                await self.reprompt(ctx, flow)
            else:
                self.front_desk.menu(ctx)
            return True
        if kind == "handoff":
            if answer:
                await self.front_desk.handoff(ctx)
            else:
                ctx.fails.pop(pending.get("step", ""), None)
                ctx.state.pop("top_fails", None)
                ctx.say("handoff_declined")
                if flow:
                    await self.reprompt(ctx, flow)
                else:
                    self.front_desk.menu(ctx)
            return True
        return False

    # ------------------------------------------------------------------ flows

    def finish(self, ctx: Ctx) -> None:
        for key in FLOW_KEYS:
            ctx.state.pop(key, None)
        if isinstance(ctx.state.get("question"), dict):  # keep the counter, not the stale question
            ctx.state["question"] = {"n": ctx.state["question"].get("n", 0)}

    async def start_flow(self, ctx: Ctx, flow: Flow, text: str, carry: dict[str, Any]) -> None:
        self.finish(ctx)
        ctx.state.update(flow=flow.name, slots={k: v for k, v in carry.items() if v not in (None, "")}, fails={},
                         docs={})
        if text:
            before = dict(ctx.slots)
            self._prefill(ctx, flow, text, exclude=None)
            self._say_noted(ctx, flow, before)
        await self.run(ctx, flow, 0)

    @cached_property
    def _rule_names(self) -> dict[str, Any]:
        """The `rules` of flow conditions (conditions only read it: one dict serves every evaluation)."""
        r = self.rules
        return {
            "pelimpahan": {"death_date_cutoff": r.pelimpahan.death_date_cutoff.isoformat(),
                           "min_recipient_age": r.pelimpahan.min_recipient_age,
                           "max_transfers": r.pelimpahan.max_transfers},
            "pendaftaran": {"min_age": r.pendaftaran.min_age, "hajj_repeat_years": r.pendaftaran.hajj_repeat_years},
            "allowed_relationships": [x.value for x in r.pelimpahan.relationships if x.allowed],
            "bps_banks": [b.name for b in r.banks.entries if b.bps] if r.banks else [],
        }

    @cached_property
    def _banks(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """(canonical name, words) of rules/banks.yml, for the bank validator."""
        return tuple((b.name, tuple(b.words)) for b in self.rules.banks.entries) if self.rules.banks else ()

    def _names(self, ctx: Ctx) -> dict[str, Any]:
        names: dict[str, Any] = dict(ctx.slots)
        pilgrim = dict(ctx.state.get("pilgrim") or {})
        if pilgrim.get("bank"):
            pilgrim["bank"] = self._canonical_bank(ctx, str(pilgrim["bank"])) or pilgrim["bank"]
        names.update(pilgrim=pilgrim, rules=self._rule_names, verified=self._verified(ctx))
        return names

    def _verified(self, ctx: Ctx) -> bool:
        """The porsi asked in this flow is the one whose identity check passed."""
        verified, flow = ctx.state.get("verified"), self.flows.get(str(ctx.state.get("flow")))
        return bool(verified) and flow is not None and any(ctx.slots.get(s) == verified for s in flow.slots_of("porsi"))

    def cond(self, ctx: Ctx, expr: str) -> Any:
        value = evaluate(self.bundle.conditions[expr], self._names(ctx), ctx.today)
        return None if value is MISSING else value

    async def run(self, ctx: Ctx, flow: Flow, idx: int, quiet_before: int | None = None) -> None:
        """Execute steps from `idx` until one needs the user's input, or the flow ends. After a correction,
        `quiet_before` is where the flow was: `say` steps before it are not said again."""
        for _ in range(MAX_LOOP):
            if ctx.state.get("flow") != flow.name:
                return
            if idx >= len(flow.steps):
                self.finish(ctx)
                return
            step = flow.steps[idx]
            if step.when and not self.cond(ctx, step.when):
                idx += 1
                continue
            if step.type == "ask":
                if ctx.slots.get(step.slot) is not None:  # type: ignore[arg-type]
                    refusal = self.refusal(ctx, step, ctx.slots[step.slot])  # type: ignore[index]
                    if refusal is None:
                        idx += 1
                        continue
                    value = ctx.slots.pop(step.slot)  # type: ignore[arg-type]
                    self.say_refusal(ctx, step, refusal, value)
                ctx.state["step"] = step.id
                self._prompt(ctx, step)
                return
            if step.type == "say":
                if quiet_before is None or idx >= quiet_before:
                    for key in step.say:
                        ctx.say(key)
                idx += 1
            elif step.type == "branch":
                target = next((c.goto for c in step.cases if self.cond(ctx, c.when)), step.default)
                idx = flow.index(target) if target else idx + 1
            elif step.type == "check":
                if self.cond(ctx, step.condition):  # type: ignore[arg-type]
                    idx += 1
                    continue
                nxt = self._outcome(ctx, flow, step.fail or Outcome(end=True), idx)
                if nxt is None:
                    return
                idx = nxt
            elif step.type == "action":
                result = await actions.ACTIONS[step.action](self, ctx, flow, step)  # type: ignore[index]
                outcome = step.results.get(result)
                if outcome is None:
                    idx += 1
                    continue
                nxt = self._outcome(ctx, flow, outcome, idx)
                if nxt is None:
                    return
                idx = nxt
            elif step.type == "documents":
                checklist = self.collection.checklist(ctx, step)
                item = self.collection.next_item(ctx, checklist)
                if item is None:
                    if ctx.state.get("doc_item"):
                        ctx.state.pop("doc_item", None)
                        ctx.say("docs_done")
                    idx += 1
                    continue
                ctx.state["step"] = step.id
                ctx.state["doc_item"] = item.key
                self.collection.doc_prompt(ctx, checklist, item)
                return
            elif step.type == "confirm":
                ctx.state["step"] = step.id
                self.collection.summary(ctx, flow, step)
                return
            elif step.type == "switch":
                target = self.flows[step.flow]  # type: ignore[index]
                carry = {k: self.cond(ctx, expr) for k, expr in step.carry.items()}
                ctx.say("switched_flow", flow_title=self.text(target.title))
                await self.start_flow(ctx, target, "", carry)
                return
            elif step.type == "end":
                for key in step.say:
                    ctx.say(key)
                self.finish(ctx)
                return
        raise RuntimeError(f"flow {flow.name}: too many steps without input (loop?)")

    def _outcome(self, ctx: Ctx, flow: Flow, outcome: Outcome, idx: int) -> int | None:
        for key in outcome.say:
            ctx.say(key)
        for slot in outcome.clear:
            ctx.slots.pop(slot, None)
        if outcome.end:
            self.finish(ctx)
            return None
        if outcome.goto:
            if outcome.fail and self.count_fail(ctx, outcome.goto):
                return None
            return flow.index(outcome.goto)
        return idx + 1

    def count_fail(self, ctx: Ctx, step_id: str) -> bool:
        """Count a failure at `step_id`; True when the hand-off offer was made instead of re-asking."""
        n = ctx.fails.get(step_id, 0) + 1
        ctx.fails[step_id] = n
        if n >= self.settings.max_failed_attempts:
            ctx.fails[step_id] = 0
            ctx.state["step"] = step_id
            ctx.state["pending"] = {"kind": "handoff", "step": step_id}
            ctx.say("fail_offer_handoff", choices=self.yes_no())
            return True
        return False

    # ------------------------------------------------------------------ asking

    def choices(self, ctx: Ctx, step: Step) -> list[Choice]:
        if step.validator == "yesno":
            return [Choice("yes", self.text("choice_yes")), Choice("no", self.text("choice_no"))]
        if step.options:
            return [Choice(o.value, self.text(o.label), tuple(o.words)) for o in step.options]
        if step.options_from == "relationships":
            return [Choice(r.value, r.label, tuple(r.words)) for r in self.rules.pelimpahan.relationships]
        if step.options_from == "appointment_slots":
            return [Choice(o["value"], o["label"], tuple(o.get("words", ())))
                    for o in ctx.state.get("options", {}).get(step.slot, [])]
        return []

    def _shown_choices(self, ctx: Ctx, step: Step) -> list[str]:
        if step.options_from == "relationships":
            return [r.label for r in self.rules.pelimpahan.relationships if r.allowed]
        return [c.label for c in self.choices(ctx, step)]

    def _prompt(self, ctx: Ctx, step: Step, key: str | None = None) -> None:
        choices = self._shown_choices(ctx, step)
        n = int((ctx.state.get("question") or {}).get("n", 0)) + 1
        ctx.state["question"] = {"n": n, "id": f"{ctx.state.get('flow')}.{step.id}.{n}", "step": step.id,
                                 "choices": choices}
        ctx.say(key or step.prompt, choices=choices)  # type: ignore[arg-type]

    def current(self, ctx: Ctx, flow: Flow) -> tuple[int, Step] | None:
        sid = ctx.state.get("step")
        if not sid:
            return None
        try:
            idx = flow.index(sid)
        except StopIteration:
            return None
        return idx, flow.steps[idx]

    async def reprompt(self, ctx: Ctx, flow: Flow) -> None:
        cur = self.current(ctx, flow)
        if cur is None:
            await self.run(ctx, flow, 0)
            return
        idx, step = cur
        if step.type == "ask" and ctx.slots.get(step.slot) is None:  # type: ignore[arg-type]
            self._prompt(ctx, step)
        elif step.type == "documents":
            checklist = self.collection.checklist(ctx, step)
            item = self.collection.item(checklist, ctx.state.get("doc_item")) or \
                self.collection.next_item(ctx, checklist)
            if item is None:
                await self.run(ctx, flow, idx)
            else:
                ctx.state["doc_item"] = item.key
                self.collection.doc_prompt(ctx, checklist, item)
        elif step.type == "confirm":
            self.collection.summary(ctx, flow, step)
        else:
            await self.run(ctx, flow, idx)

    def _vctx(self, ctx: Ctx, step: Step) -> ValidationContext:
        return ValidationContext(self.lexicon, ctx.today, self.choices(ctx, step), self._banks)

    def _read(self, ctx: Ctx, step: Step, text: str) -> Reading:
        """The message (or a part of it) read as the answer to `step` by the one answer interpreter."""
        whole = text == ctx.text
        readings = ctx.readings if whole else [text]
        flow = self.flow(ctx)
        reading = interpret(step.validator or "text", readings, self._vctx(ctx, step),  # type: ignore[arg-type]
                            ctx.intent if whole else None, ctx.confidence if whole else 0.0,
                            self._stale_labels(ctx, flow) if whole else ())
        if reading.value is None and not reading.stale and step.validator == "choice" \
                and step.options_from == "relationships" and whole:
            entity = next((e.get("value") for e in (ctx.turn.parse or {}).get("entities", [])
                           if e.get("entity") == "relationship"), None)
            if entity in {c.value for c in self.choices(ctx, step)}:
                return Reading(entity)
        return reading

    def validate(self, ctx: Ctx, step: Step, text: str) -> Any:
        """The value when `text` surely answers `step`, else None."""
        reading = self._read(ctx, step, text)
        return reading.value if reading.answered else None

    def _stale_labels(self, ctx: Ctx, flow: Flow | None) -> list[str]:
        """Button labels of every question of the flow and of the menu: never a name, bank or reason."""
        labels = [*self.yes_no(), *self._resume_choices(), *[self.text(m.label) for m in self.bundle.menu]]
        for step in flow.steps if flow else []:
            if step.type == "ask" and step.validator in ("choice", "yesno"):
                labels += [c.label for c in self.choices(ctx, step)]
        return labels

    def _canonical_bank(self, ctx: Ctx, text: str) -> str | None:
        return validate("bank", text, ValidationContext(self.lexicon, ctx.today, [], self._banks))

    def refusal(self, ctx: Ctx, step: Step, value: Any) -> str | None:
        """The response key of the first answer-time rule `value` breaks, or None."""
        if not step.checks:
            return None
        before = ctx.slots.get(step.slot)  # type: ignore[arg-type]
        ctx.slots[step.slot] = value  # type: ignore[index]
        try:
            return next((c.refuse for c in step.checks if not self.cond(ctx, c.condition)), None)
        finally:
            if before is None:
                ctx.slots.pop(step.slot, None)  # type: ignore[arg-type]
            else:
                ctx.slots[step.slot] = before  # type: ignore[index]

    def say_refusal(self, ctx: Ctx, step: Step, key: str, value: Any) -> None:
        label = value
        if step.validator == "choice":
            label = next((c.label for c in self.choices(ctx, step) if c.value == value), value)
        ctx.say(key, value=self._display(label))

    def label_of(self, ctx: Ctx, step: Step, value: Any) -> Any:
        if step.validator == "choice":
            return next((c.label for c in self.choices(ctx, step) if c.value == value), value)
        return self._display(value)

    def _say_noted(self, ctx: Ctx, flow: Flow, before: dict[str, Any]) -> bool:
        """'Nomor porsi 0312345678 sudah kami catat.' for slots filled from what the pilgrim said."""
        items = []
        for step in flow.steps:
            if step.type != "ask" or not step.slot or not step.label or step.validator == "identity":
                continue
            value = ctx.slots.get(step.slot)
            if value is not None and before.get(step.slot) != value:
                items.append(self.text("noted_item", None, label=self.text(step.label),
                                       value=self.label_of(ctx, step, value)))
        if not items:
            return False
        joined = items[0] if len(items) == 1 else f'{", ".join(items[:-1])} {self.text("noted_and")} {items[-1]}'
        ctx.say("noted_slots", items=joined)
        return True

    def _ask_back(self, ctx: Ctx, step: Step, reading: Reading) -> None:
        """Not sure: ask with the options ('Maksudnya belum pernah, ya?'); the next answer resolves it."""
        values = [v for v in reading.candidates if v is not None] or [reading.value]
        ctx.state["pending"] = {"kind": "askback", "step": step.id, "values": values}
        if step.validator == "yesno":
            guess = bool(values[0])
            key = step.means_yes if guess else step.means_no
            meaning = self.text(key, ctx) if key else f'"{self.text("choice_yes" if guess else "choice_no")}"'
            ctx.say("askback_yesno", choices=self.yes_no(), meaning=meaning)
            return
        labels = [self.label_of(ctx, step, v) for v in values]
        if len(labels) == 1:
            ctx.say("askback_one", choices=self.yes_no(), meaning=labels[0])
        else:
            ctx.say("askback_choice", choices=[str(x) for x in labels])

    async def _resolve_askback(self, ctx: Ctx, pending: dict[str, Any]) -> bool:
        flow = self.flow(ctx)
        ctx.state.pop("pending", None)
        cur = self.current(ctx, flow) if flow else None
        if flow is None or cur is None or cur[1].id != pending.get("step"):
            return False
        idx, step = cur
        values = list(pending.get("values") or [])
        if step.validator == "yesno":
            reading = resolve_yes_no_askback(ctx.readings, self.lexicon, bool(values[0]), ctx.intent, ctx.confidence)
            if reading.answered:
                await self._accept(ctx, flow, idx, step, reading.value)
                return True
            return False
        if len(values) == 1:
            yes = self.answer_yes_no(ctx)
            if yes is True:
                await self._accept(ctx, flow, idx, step, values[0])
                return True
            if yes is False:
                self._prompt(ctx, step)
                return True
            return False
        candidates = [c for c in self.choices(ctx, step) if c.value in values]
        reading = read_choice(ctx.readings, candidates, self.lexicon)
        if reading.answered:
            await self._accept(ctx, flow, idx, step, reading.value)
            return True
        return False

    async def _accept(self, ctx: Ctx, flow: Flow, idx: int, step: Step, value: Any) -> None:
        """Store an answer after the answer-time rules; a refused value is never stored."""
        refusal = self.refusal(ctx, step, value)
        if refusal is not None:
            self.say_refusal(ctx, step, refusal, value)
            if not self.count_fail(ctx, step.id):
                self._prompt(ctx, step, step.reask)
            return
        if step.validator == "yesno":
            value = bool(value)
        ctx.slots[step.slot] = value  # type: ignore[index]
        before = dict(ctx.slots)
        self._prefill(ctx, flow, ctx.text, exclude=step.slot)
        self._say_noted(ctx, flow, before)
        await self.run(ctx, flow, idx + 1)

    def is_info_question(self, ctx: Ctx) -> str | None:
        if ctx.intent in INFO_INTENTS and ctx.confidence >= 0.5 and (
                looks_like_question(ctx.text, self.lexicon) or ctx.confidence >= 0.9):
            return ctx.intent
        own = self.front_desk.own_intent(ctx)
        return own if own in INFO_INTENTS else None

    async def _flow_input(self, ctx: Ctx, flow: Flow) -> None:
        cur = self.current(ctx, flow)
        if cur is None:
            await self.run(ctx, flow, 0)
            return
        idx, step = cur
        if step.type == "documents":
            await self.collection.doc_input(ctx, flow, idx, step)
            return
        if not ctx.text and ctx.turn.files:
            ctx.say("expected_text")
            await self.reprompt(ctx, flow)
            return
        info = self.is_info_question(ctx)
        if info and looks_like_question(ctx.text, self.lexicon):
            await self._answer_then_resume(ctx, flow, info)
            return
        asked = self.front_desk.requirements_flow(ctx, flow)
        if asked is not None:
            self.front_desk.say_requirements(ctx, asked)
            if asked.name == flow.name:
                ctx.say("resume_after_answer")
                await self.reprompt(ctx, flow)
            else:
                ctx.state["pending"] = {"kind": "switch", "flow": asked.name, "text": ""}
                ctx.say("offer_switch", choices=self.yes_no(), other_title=self.text(asked.title))
            return
        if step.type == "confirm":
            answer = self.answer_yes_no(ctx)
            if answer is True:
                await self.run(ctx, flow, idx + 1)
            elif answer is False:
                self.corrections.offer_corrections(ctx, flow)
            else:
                await self._not_an_answer(ctx, flow, step)
            return
        value = self._keyword_values(ctx, flow, ctx.text, None).get(step.slot) if step.extract else None  # type: ignore[arg-type]
        reading = Reading(value) if value is not None else self._read(ctx, step, ctx.text)
        if reading.stale:
            ctx.say("stale_choice", answer=ctx.text)
            self._prompt(ctx, step)
            return
        value = reading.value if reading.answered else None
        if value is None and step.validator == "name" and not reading.stale:
            value = self._leading_name(ctx, flow, step)
        if step.validator in ("text", "name") and "?" in ctx.text:
            value = None  # a question is not a name or a reason
        if value is None and step.other_option and "?" not in ctx.text and len(normalize(ctx.text).split()) >= 2 \
                and not looks_like_question(ctx.text, self.lexicon) and not any(c.isdigit() for c in ctx.text) \
                and not reading.candidates and not reading.excluded:
            value = step.other_option
            ctx.slots[step.other_slot or f"{step.slot}_detail"] = ctx.text
        if value is None and reading.value is not None and not reading.sure:
            self._ask_back(ctx, step, reading)
            return
        if value is None:
            await self._not_an_answer(ctx, flow, step)
            return
        await self._accept(ctx, flow, idx, step, value)

    def _leading_name(self, ctx: Ctx, flow: Flow, step: Step) -> str | None:
        """A name written before other answers ('Dewi Sartika nik 1375014303850001'): the words up to the first
        keyword of another question or the first digit."""
        norm = normalize(ctx.text)
        cut = next((m.start() for m in re.finditer(r"\d", norm)), len(norm))
        for other in flow.steps:
            if other is step or other.type != "ask":
                continue
            for kw in other.extract:
                m = re.search(r"(?:^| )" + re.escape(normalize(kw)) + r"(?: |$)", norm)
                if m:
                    cut = min(cut, m.start())
        prefix = norm[:cut].strip()
        if not prefix or cut >= len(norm):
            return None
        probe = {k: v for k, v in ctx.slots.items() if k != step.slot}
        saved, ctx.state["slots"] = ctx.state.get("slots"), probe
        try:  # only when the rest of the message answers another question ('nik 1375...'), not 'saya lahir 1985'
            self._prefill(ctx, flow, ctx.text, exclude=step.slot)
            answers_more = probe != {k: v for k, v in (saved or {}).items() if k != step.slot}
        finally:
            ctx.state["slots"] = saved
        return self.validate(ctx, step, original_span(ctx.text, prefix)) if answers_more else None

    async def _answer_then_resume(self, ctx: Ctx, flow: Flow, intent: str) -> None:
        self.front_desk.info(ctx, intent)
        ctx.say("resume_after_answer")
        await self.reprompt(ctx, flow)

    async def _not_an_answer(self, ctx: Ctx, flow: Flow, step: Step) -> None:
        before = dict(ctx.slots)
        self._prefill(ctx, flow, ctx.text, exclude=step.slot)
        if ctx.slots != before:  # answers to later questions: keep them, ask this one again
            if not self._say_noted(ctx, flow, before):
                ctx.say("noted_later")
            await self.reprompt(ctx, flow)
            return
        info = self.is_info_question(ctx)
        if info:
            await self._answer_then_resume(ctx, flow, info)
            return
        if ctx.intent in ("greet", "thanks") and ctx.confidence >= 0.8 and len(normalize(ctx.text).split()) <= 4:
            ctx.say("midflow_" + ctx.intent)
            await self.reprompt(ctx, flow)
            return
        other = self.bundle.intent_flow.get(ctx.intent or "")
        if other and other != flow.name and ctx.confidence >= 0.8:
            ctx.state["pending"] = {"kind": "switch", "flow": other, "text": ctx.text}
            ctx.say("offer_switch", choices=self.yes_no(), other_title=self.text(self.flows[other].title))
            return
        if looks_like_question(ctx.text, self.lexicon):
            answer = self.front_desk.faq_answer(ctx, min_confidence=0.5)
            if answer:
                ctx.replies.append(Reply(answer))
            else:
                ctx.say("faq_unknown")
            ctx.say("resume_after_answer")
            await self.reprompt(ctx, flow)
            return
        if ctx.intent == "stop" and ctx.confidence >= 0.8:
            self.stopping.ask_abort(ctx)
            return
        if self.count_fail(ctx, step.id):
            return
        if step.type == "confirm":
            self.collection.summary(ctx, flow, step)
        elif step.reask:
            self._prompt(ctx, step, step.reask)
        else:
            prompt = self.text(step.prompt, ctx) if step.prompt else ""  # type: ignore[arg-type]
            ctx.say("reask_generic", choices=self._shown_choices(ctx, step), prompt=prompt)

    def _keyword_values(self, ctx: Ctx, flow: Flow, text: str, exclude: str | None) -> dict[str, Any]:
        """Values found right after a step's keywords ('lahir 3 Mei 1960', 'wafat 14/8/2025'); for the whole
        message also in the NLU's normalised text ('lahia 20-01-1955' in Minang), names excepted."""
        found = self._values_after_keywords(ctx, flow, text, exclude, names=True)
        for reading in ctx.readings[1:] if text == ctx.text else []:
            for slot, value in self._values_after_keywords(ctx, flow, reading, exclude, names=False).items():
                found.setdefault(slot, value)
        return found

    def _values_after_keywords(self, ctx: Ctx, flow: Flow, text: str, exclude: str | None,
                               names: bool) -> dict[str, Any]:
        norm = " " + normalize(text) + " "
        spots: list[tuple[int, int, Step]] = []
        for step, keys in self._extract_keys(flow):
            if step.slot == exclude:
                continue
            if step.validator == "name" and not names:
                continue
            if step.when and not self.cond(ctx, step.when):
                continue
            for k in keys:
                start = norm.find(k)
                while start >= 0:
                    spots.append((start, start + len(k) - 1, step))
                    start = norm.find(k, start + 1)
        spots.sort(key=lambda t: (t[0], -(t[1] - t[0])))
        found: dict[str, Any] = {}
        for i, (_start, end, step) in enumerate(spots):
            if step.slot in found:
                continue
            stop = next((s for s, _e, st in spots[i + 1:] if s >= end and st is not step), len(norm))
            fragment = norm[end:stop]
            value = self.validate(ctx, step, original_span(text, fragment) if step.validator == "name" else fragment)
            if value is not None:
                found[step.slot] = value  # type: ignore[index]
        return found

    def _slot_steps(self, flow: Flow, asked: bool = False) -> dict[str, Step]:
        """The step that fills each slot of `flow` (the last one when several do), with `asked` only the ask steps;
        worked out once per flow."""
        return self._per_flow(f"slot_steps:{asked}", flow, lambda f: {
            s.slot: s for s in f.steps if s.slot and (s.type == "ask" or not asked)})

    def _extract_keys(self, flow: Flow) -> tuple[tuple[Step, tuple[str, ...]], ...]:
        """The questions of `flow` whose answer may follow a keyword, with the keywords as searched for in a
        normalised message (" lahir "), in flow order; worked out once per flow."""
        return self._per_flow("extract_keys", flow, lambda f: tuple(
            (step, tuple(" " + normalize(kw) + " " for kw in step.extract)) for step in f.steps
            if step.type == "ask" and step.slot and step.extract))

    def _per_flow(self, kind: str, flow: Flow, build: Callable[[Flow], T]) -> T:
        """`build(flow)`, kept per flow name (built again when the flow object was replaced, e.g. reloaded)."""
        cache: dict[tuple[str, str], tuple[Flow, Any]] = self.__dict__.setdefault("_per_flow_cache", {})
        entry = cache.get((kind, flow.name))
        if entry is None or entry[0] is not flow:
            entry = cache[(kind, flow.name)] = (flow, build(flow))
        return entry[1]  # type: ignore[no-any-return]

    def _prefill(self, ctx: Ctx, flow: Flow, text: str, exclude: str | None) -> None:
        """Take answers to later questions from the same message ('porsi 0312345678 lahir 3 Mei 1960'); a second
        pass reads the questions that only apply once the first pass filled something ('wafat tgl 3 maret 2024'
        after 'almarhumah' chose the reason)."""
        for _ in range(2):
            before = dict(ctx.slots)
            self._prefill_once(ctx, flow, text, exclude)
            if ctx.slots == before:
                return

    def _prefill_once(self, ctx: Ctx, flow: Flow, text: str, exclude: str | None) -> None:
        steps = self._slot_steps(flow, asked=True)
        for slot, value in self._keyword_values(ctx, flow, text, exclude).items():
            if ctx.slots.get(slot) is None and self.refusal(ctx, steps[slot], value) is None:
                ctx.slots[slot] = value
        for step in flow.steps:
            if step.type == "ask" and step.extract_bare and step.slot and step.slot != exclude \
                    and ctx.slots.get(step.slot) is None:
                if step.when and not self.cond(ctx, step.when):
                    continue
                if step.validator == "choice":
                    value = self._only_option(ctx, step, text)
                else:
                    value = self.validate(ctx, step, text)
                if value is not None and self.refusal(ctx, step, value) is None:
                    ctx.slots[step.slot] = value

    def _only_option(self, ctx: Ctx, step: Step, text: str) -> str | None:
        """The one option whose words occur, not negated, in a free message (None if none or several do)."""
        choices = self.choices(ctx, step)
        for reading in ctx.readings if text == ctx.text else [text]:
            hits = named_options(reading, choices, self.lexicon)
            if hits:
                return hits.pop() if len(hits) == 1 else None
        return None
