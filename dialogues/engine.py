"""Dialogue engine: runs the declarative flows (dialogues/flows/*.yml) on the conversation's stored state.

Public interface (used by bot/pipeline.py and, later, the back office):

- `DialogueEngine.load(settings, office, base_dir)` loads and validates flows, responses and rules;
  raises `DialogueConfigError` with a one-line message (file, line, problem).
- `await engine.step(session, files, turn) -> list[Reply]` runs one turn inside the caller's transaction
  and stores the new state in `turn.conversation.state` (never commits).
- `engine.render(key, **vars) -> str` renders any response template (office variables are filled in),
  e.g. for staff notifications: `engine.render("case_detail", ticket=..., ...)`.
- `await engine.request_document_resend(session, conversation, case, item_key, reason) -> list[Reply]`
  asks the pilgrim for a new file for one checklist item of a case; the next file(s) they send become new
  CaseDocument rows (status `received`) of that case and item, and older ones are marked `replaced`.

State (conversation.state, JSON): flow, step (the step waiting for input), slots, fails (per step),
pending (a yes/no or pick question of the engine itself), docs (per checklist item: status + document ids),
doc_item, pilgrim (registry facts for conditions), verified (porsi verified in this flow), options
(dynamic choices), last_choices (menu shown last), updated_at, resend.
"""
from __future__ import annotations

import asyncio
import copy
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dialogues import actions
from dialogues.conditions import MISSING, evaluate
from dialogues.config import Bundle, load_bundle
from dialogues.documents import inspect
from dialogues.parsing import (
    contains_phrase, format_date, is_only, normalize, parse_yes_no, pick_option,
)
from dialogues.render import render_template
from dialogues.replies import Reply
from dialogues.schema import Checklist, ChecklistItem, Flow, Outcome, Step
from dialogues.settings import DialogueSettings, OfficeSettings
from dialogues.turn import Turn
from dialogues.validators import Choice, ValidationContext, looks_like_question, validate
from storage.files import FileStore, StoredFile
from storage.models import AuditLog, Case, CaseDocument, Conversation

INFO_INTENTS = ("faq", "ask_cost", "ask_schedule", "ask_office")
FLOW_KEYS = ("flow", "step", "slots", "fails", "pending", "docs", "doc_item", "pilgrim", "verified", "options",
             "ticket")
DOC_DONE = ("sent", "skipped", "missing")
MAX_LOOP = 200


def _original(text: str, fragment: str) -> str:
    """The part of `text` that normalises to `fragment` (keeps the user's capitals), else the fragment."""
    words = fragment.split()
    if not words:
        return fragment
    m = re.search(r"\W+".join(re.escape(w) for w in words), text, re.IGNORECASE)
    return m.group() if m else fragment


@dataclass
class Ctx:
    """Everything one turn needs; `state` is a private copy written back at the end."""

    engine: "DialogueEngine"
    session: AsyncSession
    files: FileStore
    turn: Turn
    state: dict[str, Any]
    now: datetime
    replies: list[Reply] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def conv(self) -> Conversation:
        return self.turn.conversation

    @property
    def slots(self) -> dict[str, Any]:
        return self.state.setdefault("slots", {})

    @property
    def fails(self) -> dict[str, int]:
        return self.state.setdefault("fails", {})

    @property
    def text(self) -> str:
        return (self.turn.text or "").strip()

    @property
    def intent(self) -> str | None:
        return ((self.turn.parse or {}).get("intent") or {}).get("name")

    @property
    def confidence(self) -> float:
        return float(((self.turn.parse or {}).get("intent") or {}).get("confidence") or 0.0)

    @property
    def today(self) -> date:
        return self.now.astimezone(self.engine.tz).date()

    def say(self, key: str, choices: list[str] | None = None, **values: Any) -> None:
        self.replies.append(Reply(self.engine.text(key, self, **values), choices=list(choices or [])))

    def merge_last(self, n: int) -> None:
        """Join the last `n` replies into one message (lists read better as one bubble)."""
        if n > 1 and len(self.replies) >= n:
            merged = self.replies[-n:]
            self.replies[-n:] = [Reply("\n".join(r.text for r in merged), choices=merged[-1].choices)]


class DialogueEngine:
    def __init__(self, bundle: Bundle, office: OfficeSettings, settings: DialogueSettings) -> None:
        self.bundle = bundle
        self.rules = bundle.rules
        self.lexicon = bundle.rules.language
        self.office = office
        self.settings = settings
        self.tz = ZoneInfo(office.timezone)
        self.flows = bundle.flows

    # ------------------------------------------------------------------ public API

    @classmethod
    def load(cls, settings: DialogueSettings, office: OfficeSettings, base_dir: Path) -> "DialogueEngine":
        """Load and validate flows, responses and rules; raises DialogueConfigError on invalid files."""
        base = Path(base_dir)
        bundle = load_bundle(base / settings.flows_dir, base / settings.responses_dir, base / settings.rules_dir)
        return cls(bundle, office, settings)

    def render(self, key: str, **values: Any) -> str:
        """Render a response template with the office variables and `values` (for notifications)."""
        return self.text(key, None, **values)

    async def step(self, session: AsyncSession, files: FileStore, turn: Turn) -> list[Reply]:
        """Run one turn; reads/writes through `session` in the caller's transaction."""
        now = turn.now or datetime.now(timezone.utc)
        now = now.replace(tzinfo=timezone.utc) if now.tzinfo is None else now.astimezone(timezone.utc)
        ctx = Ctx(self, session, files, turn, copy.deepcopy(dict(turn.conversation.state or {})), now)
        await self._dispatch(ctx)
        ctx.state["updated_at"] = now.isoformat()
        turn.conversation.state = ctx.state
        return ctx.replies

    async def request_document_resend(self, session: AsyncSession, conversation: Conversation, case: Case,
                                      item_key: str, reason: str) -> list[Reply]:
        """Ask for a new file for `item_key` of `case`; the next file(s) received are attached to it."""
        name = self._item_name(case, item_key)
        state = copy.deepcopy(dict(conversation.state or {}))
        state["resend"] = {"case_id": case.id, "ticket": case.ticket, "item_key": item_key, "name": name, "ids": []}
        conversation.state = state
        return [Reply(self.text("resend_prompt", None, ticket=case.ticket, name=name, reason=reason))]

    # ------------------------------------------------------------------ text

    def text(self, key: str, ctx: Ctx | None = None, **values: Any) -> str:
        template = self.bundle.responses[key]
        if not isinstance(template, str):
            raise KeyError(f"response '{key}' is not a text template")
        merged = self._base_vars()
        if ctx is not None:
            merged.update(self._ctx_vars(ctx))
        merged.update(values)
        return render_template(template, merged)

    def items(self, key: str) -> list[str]:
        return [str(v) for v in self.bundle.responses[key]]

    def mapping(self, key: str, value: str | None) -> str:
        table = self.bundle.responses[key]
        return str(table.get(value or "", table.get("default", value or "-")))

    def when_label(self, moment: datetime, key: str) -> str:
        local = moment.astimezone(self.tz)
        return self.text(key, None, weekday=self.lexicon.weekday_names[local.weekday()],
                         date=format_date(local.date(), self.lexicon), time=local.strftime("%H.%M"))

    def _base_vars(self) -> dict[str, Any]:
        r = self.rules
        allowed = [x.label for x in r.pelimpahan.relationships if x.allowed]
        return {
            "office_name": self.office.name, "office_address": self.office.address, "office_phone": self.office.phone,
            "office_hours": self.office.hours, "kab_kota": self.office.kab_kota, "provinsi": self.office.provinsi,
            "death_date_cutoff": format_date(r.pelimpahan.death_date_cutoff, self.lexicon),
            "death_date_basis": r.pelimpahan.death_date_basis, "min_recipient_age": r.pelimpahan.min_recipient_age,
            "min_recipient_age_basis": r.pelimpahan.min_recipient_age_basis,
            "max_transfers_basis": r.pelimpahan.max_transfers_basis, "min_age": r.pendaftaran.min_age,
            "min_age_basis": r.pendaftaran.min_age_basis, "hajj_repeat_years": r.pendaftaran.hajj_repeat_years,
            "hajj_repeat_basis": r.pendaftaran.hajj_repeat_basis, "setoran_awal": r.pendaftaran.setoran_awal,
            "allowed_relationships": ", ".join(allowed),
            "max_mb": round(self.settings.max_upload_bytes / (1024 * 1024), 1),
        }

    def _ctx_vars(self, ctx: Ctx) -> dict[str, Any]:
        out: dict[str, Any] = {}
        flow = self._flow(ctx)
        steps = {s.slot: s for s in flow.steps if s.slot} if flow else {}
        for slot, value in ctx.slots.items():
            out[slot] = self._display(value)
            step = steps.get(slot)
            if step is not None and step.validator == "choice":
                label = next((c.label for c in self._choices(ctx, step) if c.value == value), None)
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

    def _flow(self, ctx: Ctx) -> Flow | None:
        name = ctx.state.get("flow")
        return self.flows.get(name) if name else None

    async def _dispatch(self, ctx: Ctx) -> None:
        lex = self.lexicon
        if ctx.state.get("resend"):
            if ctx.turn.files:
                await self._resend_files(ctx)
                return
            if ctx.text:
                ctx.state.pop("resend", None)
        pending = ctx.state.get("pending")
        if pending and await self._pending(ctx, pending):
            return
        flow = self._flow(ctx)
        if flow and not pending and self._stale(ctx):
            ctx.state["pending"] = {"kind": "resume"}
            ctx.say("resume_offer", choices=self._resume_choices())
            return
        if self._wants_handoff(ctx):
            await self._handoff(ctx)
            return
        if flow:
            if self._wants_stop(ctx) or is_only(ctx.text, lex.menu):
                ctx.state["pending"] = {"kind": "abort"}
                ctx.say("abort_confirm", choices=self._yes_no())
                return
            if await self._correction(ctx, flow):
                return
            await self._flow_input(ctx, flow)
            return
        await self._top_level(ctx)

    def _stale(self, ctx: Ctx) -> bool:
        raw = ctx.state.get("updated_at")
        if not raw:
            return False
        try:
            last = datetime.fromisoformat(raw)
        except ValueError:
            return False
        return (ctx.now - last).total_seconds() > self.settings.resume_window_hours * 3600

    def _wants_handoff(self, ctx: Ctx) -> bool:
        if ctx.intent == "human_handoff" and ctx.confidence >= 0.6:
            return True
        return bool(ctx.text) and len(normalize(ctx.text).split()) <= 5 and \
            contains_phrase(ctx.text, self.lexicon.handoff) is not None

    def _wants_stop(self, ctx: Ctx) -> bool:
        if is_only(ctx.text, self.lexicon.stop):
            return True
        words = normalize(ctx.text).split()
        return bool(words) and len(words) <= 5 and contains_phrase(ctx.text, self.lexicon.stop) is not None

    def _yes_no(self) -> list[str]:
        return [self.text("choice_yes"), self.text("choice_no")]

    def _resume_choices(self) -> list[str]:
        return [self.text("choice_resume"), self.text("choice_restart"), self.text("choice_menu")]

    def _answer_yes_no(self, ctx: Ctx) -> bool | None:
        if normalize(ctx.text) in ("1", "2"):
            return normalize(ctx.text) == "1"
        if ctx.intent in ("affirm", "deny") and ctx.confidence >= 0.8 and parse_yes_no(ctx.text, self.lexicon) is None:
            return ctx.intent == "affirm"
        return parse_yes_no(ctx.text, self.lexicon)

    async def _pending(self, ctx: Ctx, pending: dict[str, Any]) -> bool:
        """Handle the engine's own question; False means 'not an answer to it, process normally'."""
        kind = pending.get("kind")
        flow = self._flow(ctx)
        if kind == "resume":
            labels = self._resume_choices()
            lex = self.lexicon
            idx = pick_option(ctx.text, labels, [lex.resume + lex.yes_words, lex.restart, lex.menu + lex.no_words])
            ctx.state.pop("pending", None)
            if idx == 0 and flow:
                await self._reprompt(ctx, flow)
            elif idx == 1 and flow:
                ctx.say("restarted")
                await self._start_flow(ctx, flow, "", {})
            else:
                self._finish(ctx)
                self._menu(ctx)
            return True
        if kind == "correct":
            options = pending.get("options", [])
            idx = pick_option(ctx.text, [o["label"] for o in options], [[] for _ in options])
            ctx.state.pop("pending", None)
            if idx is None or flow is None:
                return False
            await self._apply_correction(ctx, flow, options[idx])
            return True
        answer = self._answer_yes_no(ctx)
        if answer is None:
            ctx.state.pop("pending", None)
            return False
        ctx.state.pop("pending", None)
        if kind == "switch":
            target = self.flows.get(str(pending.get("flow")))
            if answer and target is not None:
                await self._start_flow(ctx, target, str(pending.get("text") or ""), {})
            elif flow:
                ctx.say("handoff_declined")
                await self._reprompt(ctx, flow)
            else:
                self._menu(ctx)
            return True
        if kind == "abort":
            if answer:
                title = self.text(flow.title) if flow else ""
                self._finish(ctx)
                ctx.say("aborted", flow_title=title)
                self._menu(ctx)
            else:
                ctx.say("abort_cancelled")
                if flow:
                    await self._reprompt(ctx, flow)
            return True
        if kind == "handoff":
            if answer:
                await self._handoff(ctx)
            else:
                ctx.fails.pop(pending.get("step", ""), None)
                ctx.state.pop("top_fails", None)
                ctx.say("handoff_declined")
                if flow:
                    await self._reprompt(ctx, flow)
                else:
                    self._menu(ctx)
            return True
        return False

    # ------------------------------------------------------------------ top level (no flow running)

    def _menu(self, ctx: Ctx) -> None:
        ctx.state["last_choices"] = "menu"
        ctx.say("menu", choices=[self.text(m.label) for m in self.bundle.menu])

    def _menu_pick(self, ctx: Ctx, numbers_only: bool) -> str | None:
        labels = [self.text(m.label) for m in self.bundle.menu]
        if numbers_only and not normalize(ctx.text).isdigit() and ctx.state.get("last_choices") != "menu":
            return None
        idx = pick_option(ctx.text, labels, [m.words for m in self.bundle.menu])
        return self.bundle.menu[idx].intent if idx is not None else None

    def _own_intent(self, ctx: Ctx) -> str | None:
        """Keyword understanding used when the NLU is unsure or absent."""
        lex = self.lexicon
        if contains_phrase(ctx.text, lex.unsubscribe):
            return "unsubscribe"
        if contains_phrase(ctx.text, lex.subscribe):
            return "subscribe"
        if looks_like_question(ctx.text, lex):
            for intent, words in (("ask_cost", lex.info_cost), ("ask_schedule", lex.info_schedule),
                                  ("ask_office", lex.info_office)):
                if contains_phrase(ctx.text, words):
                    return intent
        return None

    async def _top_level(self, ctx: Ctx) -> None:
        if ctx.turn.files and not ctx.text:
            ctx.say("no_flow_files")
            self._menu(ctx)
            return
        last = ctx.state.pop("last_choices", None)
        if last == "info":
            idx = pick_option(ctx.text, self.items("info_choices"), [[], [], []])
            if idx is not None:
                self._info(ctx, ("ask_cost", "ask_schedule", "ask_office")[idx])
                return
        asked = self._requirements_flow(ctx, None)
        if asked is not None:
            self._say_requirements(ctx, asked)
            ctx.state["pending"] = {"kind": "switch", "flow": asked.name, "text": ""}
            ctx.say("requirements_start", choices=self._yes_no(), other_title=self.text(asked.title))
            return
        intent = None
        for item in self.bundle.menu:  # the exact name of a menu item wins over the NLU
            if is_only(ctx.text, [*item.words, self.text(item.label)]):
                intent = item.intent
                break
        if intent is None and last == "menu" and normalize(ctx.text).isdigit():
            ctx.state["last_choices"] = "menu"
            intent = self._menu_pick(ctx, numbers_only=True)
        if intent is None and ctx.intent and ctx.confidence >= 0.5 and ctx.intent not in ("nlu_fallback", "out_of_scope"):
            intent = ctx.intent
        intent = intent or self._own_intent(ctx) or self._menu_pick(ctx, numbers_only=False)
        if intent is None and ctx.intent in ("faq",):
            intent = "faq"
        await self._run_intent(ctx, intent)

    async def _run_intent(self, ctx: Ctx, intent: str | None) -> None:
        flow_name = self.bundle.intent_flow.get(intent or "")
        if flow_name:
            ctx.state.pop("top_fails", None)
            await self._start_flow(ctx, self.flows[flow_name], ctx.text, {})
            return
        if intent == "greet":
            ctx.say("greet")
            self._menu(ctx)
        elif intent in ("menu", "affirm", "deny", "stop"):
            self._menu(ctx)
        elif intent == "info_menu":
            ctx.state["last_choices"] = "info"
            ctx.say("info_menu", choices=self.items("info_choices"))
        elif intent in INFO_INTENTS:
            self._info(ctx, intent)
        elif intent == "thanks":
            ctx.say("thanks")
        elif intent == "goodbye":
            ctx.say("goodbye")
        elif intent == "subscribe":
            ctx.conv.subscribed = True
            ctx.conv.subscribed_at = ctx.now
            ctx.say("subscribed")
        elif intent == "unsubscribe":
            ctx.conv.subscribed = False
            ctx.say("unsubscribed")
        elif intent == "human_handoff":
            await self._handoff(ctx)
        else:
            n = int(ctx.state.get("top_fails", 0)) + 1
            ctx.state["top_fails"] = n
            if n >= self.settings.max_failed_attempts:
                ctx.state["top_fails"] = 0
                ctx.state["pending"] = {"kind": "handoff"}
                ctx.say("fail_offer_handoff", choices=self._yes_no())
                return
            ctx.say("not_understood")
            self._menu(ctx)
            return
        ctx.state.pop("top_fails", None)

    def _info(self, ctx: Ctx, intent: str) -> bool:
        """Answer an information question; False if there is nothing to say (FAQ without an answer)."""
        if intent == "faq":
            answer = self._faq_answer(ctx)
            if answer:
                ctx.replies.append(Reply(answer))
                return True
            ctx.say("faq_unknown")
            return False
        texts = self.rules.info
        template = {"ask_cost": texts.cost, "ask_schedule": texts.schedule, "ask_office": texts.office}[intent]
        ctx.replies.append(Reply(render_template(template, self._base_vars())))
        return True

    def _faq_answer(self, ctx: Ctx, min_confidence: float = 0.0) -> str | None:
        """The NLU's FAQ answer (response_selector); with `min_confidence`, only a confident one."""
        try:
            rs = (ctx.turn.parse or {}).get("response_selector", {})
            for key in ("faq", "default"):
                response = (rs.get(key) or {}).get("response") or {}
                responses = response.get("responses") or []
                confidence = response.get("confidence")
                if min_confidence and (confidence is None or float(confidence) < min_confidence):
                    continue
                if responses and responses[0].get("text"):
                    return str(responses[0]["text"])
        except (AttributeError, TypeError, IndexError, ValueError):
            return None
        return None

    def _requirements_flow(self, ctx: Ctx, current: Flow | None) -> Flow | None:
        """The flow whose requirements a question like 'syarat pelimpahan apa saja?' asks for."""
        if not ctx.text or not contains_phrase(ctx.text, self.lexicon.requirements):
            return None
        if not (looks_like_question(ctx.text, self.lexicon) or len(normalize(ctx.text).split()) <= 4):
            return None
        name = self.bundle.intent_flow.get(ctx.intent or "") if ctx.confidence >= 0.5 else None
        if name is None:
            name = self._menu_pick(ctx, numbers_only=False)
            name = self.bundle.intent_flow.get(name or "")
        flow = self.flows.get(name or "") or current
        return flow if flow is not None and flow.requirements else None

    def _say_requirements(self, ctx: Ctx, flow: Flow) -> None:
        lines: list[str] = []
        for name in flow.requirements:
            checklist = self.rules.checklists[name]
            lines.append(self.text("requirements_header", title=checklist.title or name))
            lines += [self.text("requirements_item", name=i.name,
                                form=self.rules.documents.form_labels.get(i.form, i.form)) for i in checklist.items]
            lines.append("")
        lines.append(self.text("requirements_note"))
        ctx.replies.append(Reply("\n".join(lines).strip()))

    async def _handoff(self, ctx: Ctx) -> None:
        from dialogues.calendar import next_opening, office_open

        ctx.state.pop("pending", None)
        ctx.conv.mode = "waiting_staff"
        ctx.conv.handoff_since = ctx.now
        hours, holidays = self.rules.office_hours, self.rules.holidays
        if office_open(ctx.now, hours, holidays, self.tz):
            ctx.say("handoff_open")
        else:
            nxt = next_opening(ctx.now, hours, holidays, self.tz)
            ctx.say("handoff_closed", next_open=self.when_label(nxt, "next_open_label") if nxt else self.office.hours)
        ctx.session.add(AuditLog(at=ctx.now, actor="bot", action="handoff_requested", conversation_id=ctx.conv.id,
                                 detail={"flow": ctx.state.get("flow"), "step": ctx.state.get("step")}))

    # ------------------------------------------------------------------ flows

    def _finish(self, ctx: Ctx) -> None:
        for key in FLOW_KEYS:
            ctx.state.pop(key, None)

    async def _start_flow(self, ctx: Ctx, flow: Flow, text: str, carry: dict[str, Any]) -> None:
        self._finish(ctx)
        ctx.state.update(flow=flow.name, slots={k: v for k, v in carry.items() if v not in (None, "")}, fails={},
                         docs={})
        if text:
            self._prefill(ctx, flow, text, exclude=None)
        await self._run(ctx, flow, 0)

    def _names(self, ctx: Ctx) -> dict[str, Any]:
        r = self.rules
        rules = {
            "pelimpahan": {"death_date_cutoff": r.pelimpahan.death_date_cutoff.isoformat(),
                           "min_recipient_age": r.pelimpahan.min_recipient_age,
                           "max_transfers": r.pelimpahan.max_transfers},
            "pendaftaran": {"min_age": r.pendaftaran.min_age, "hajj_repeat_years": r.pendaftaran.hajj_repeat_years},
            "allowed_relationships": [x.value for x in r.pelimpahan.relationships if x.allowed],
        }
        names: dict[str, Any] = dict(ctx.slots)
        names.update(pilgrim=ctx.state.get("pilgrim") or {}, rules=rules,
                     verified=bool(ctx.slots.get("porsi")) and ctx.state.get("verified") == ctx.slots.get("porsi"))
        return names

    def _cond(self, ctx: Ctx, expr: str) -> Any:
        value = evaluate(self.bundle.conditions[expr], self._names(ctx), ctx.today)
        return None if value is MISSING else value

    async def _run(self, ctx: Ctx, flow: Flow, idx: int) -> None:
        """Execute steps from `idx` until one needs the user's input, or the flow ends."""
        for _ in range(MAX_LOOP):
            if ctx.state.get("flow") != flow.name:
                return
            if idx >= len(flow.steps):
                self._finish(ctx)
                return
            step = flow.steps[idx]
            if step.when and not self._cond(ctx, step.when):
                idx += 1
                continue
            if step.type == "ask":
                if ctx.slots.get(step.slot) is not None:  # type: ignore[arg-type]
                    idx += 1
                    continue
                ctx.state["step"] = step.id
                self._prompt(ctx, step)
                return
            if step.type == "say":
                for key in step.say:
                    ctx.say(key)
                idx += 1
            elif step.type == "branch":
                target = next((c.goto for c in step.cases if self._cond(ctx, c.when)), step.default)
                idx = flow.index(target) if target else idx + 1
            elif step.type == "check":
                if self._cond(ctx, step.condition):  # type: ignore[arg-type]
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
                checklist = self._checklist(ctx, step)
                item = self._next_item(ctx, checklist)
                if item is None:
                    if ctx.state.get("doc_item"):
                        ctx.state.pop("doc_item", None)
                        ctx.say("docs_done")
                    idx += 1
                    continue
                ctx.state["step"] = step.id
                ctx.state["doc_item"] = item.key
                self._doc_prompt(ctx, checklist, item)
                return
            elif step.type == "confirm":
                ctx.state["step"] = step.id
                self._summary(ctx, flow, step)
                return
            elif step.type == "switch":
                target = self.flows[step.flow]  # type: ignore[index]
                carry = {k: self._cond(ctx, expr) for k, expr in step.carry.items()}
                ctx.say("switched_flow", flow_title=self.text(target.title))
                await self._start_flow(ctx, target, "", carry)
                return
            elif step.type == "end":
                for key in step.say:
                    ctx.say(key)
                self._finish(ctx)
                return
        raise RuntimeError(f"flow {flow.name}: too many steps without input (loop?)")

    def _outcome(self, ctx: Ctx, flow: Flow, outcome: Outcome, idx: int) -> int | None:
        for key in outcome.say:
            ctx.say(key)
        for slot in outcome.clear:
            ctx.slots.pop(slot, None)
        if outcome.end:
            self._finish(ctx)
            return None
        if outcome.goto:
            if outcome.fail and self._count_fail(ctx, outcome.goto):
                return None
            return flow.index(outcome.goto)
        return idx + 1

    def _count_fail(self, ctx: Ctx, step_id: str) -> bool:
        """Count a failure at `step_id`; True when the hand-off offer was made instead of re-asking."""
        n = ctx.fails.get(step_id, 0) + 1
        ctx.fails[step_id] = n
        if n >= self.settings.max_failed_attempts:
            ctx.fails[step_id] = 0
            ctx.state["step"] = step_id
            ctx.state["pending"] = {"kind": "handoff", "step": step_id}
            ctx.say("fail_offer_handoff", choices=self._yes_no())
            return True
        return False

    # ------------------------------------------------------------------ asking

    def _choices(self, ctx: Ctx, step: Step) -> list[Choice]:
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
        return [c.label for c in self._choices(ctx, step)]

    def _prompt(self, ctx: Ctx, step: Step, key: str | None = None) -> None:
        ctx.say(key or step.prompt, choices=self._shown_choices(ctx, step))  # type: ignore[arg-type]

    def _current(self, ctx: Ctx, flow: Flow) -> tuple[int, Step] | None:
        sid = ctx.state.get("step")
        if not sid:
            return None
        try:
            idx = flow.index(sid)
        except StopIteration:
            return None
        return idx, flow.steps[idx]

    async def _reprompt(self, ctx: Ctx, flow: Flow) -> None:
        cur = self._current(ctx, flow)
        if cur is None:
            await self._run(ctx, flow, 0)
            return
        idx, step = cur
        if step.type == "ask" and ctx.slots.get(step.slot) is None:  # type: ignore[arg-type]
            self._prompt(ctx, step)
        elif step.type == "documents":
            checklist = self._checklist(ctx, step)
            item = self._item(checklist, ctx.state.get("doc_item")) or self._next_item(ctx, checklist)
            if item is None:
                await self._run(ctx, flow, idx)
            else:
                ctx.state["doc_item"] = item.key
                self._doc_prompt(ctx, checklist, item)
        elif step.type == "confirm":
            self._summary(ctx, flow, step)
        else:
            await self._run(ctx, flow, idx)

    def _validate(self, ctx: Ctx, step: Step, text: str) -> Any:
        vctx = ValidationContext(self.lexicon, ctx.today, self._choices(ctx, step))
        value = validate(step.validator, text, vctx)  # type: ignore[arg-type]
        if step.validator == "choice" and value is None and step.options_from == "relationships":
            entity = next((e.get("value") for e in (ctx.turn.parse or {}).get("entities", [])
                           if e.get("entity") == "relationship"), None)
            if entity in {c.value for c in vctx.choices}:
                return entity
        return value

    def _is_info_question(self, ctx: Ctx) -> str | None:
        if ctx.intent in INFO_INTENTS and ctx.confidence >= 0.5 and (
                looks_like_question(ctx.text, self.lexicon) or ctx.confidence >= 0.9):
            return ctx.intent
        own = self._own_intent(ctx)
        return own if own in INFO_INTENTS else None

    async def _flow_input(self, ctx: Ctx, flow: Flow) -> None:
        cur = self._current(ctx, flow)
        if cur is None:
            await self._run(ctx, flow, 0)
            return
        idx, step = cur
        if step.type == "documents":
            await self._doc_input(ctx, flow, idx, step)
            return
        if not ctx.text and ctx.turn.files:
            ctx.say("expected_text")
            await self._reprompt(ctx, flow)
            return
        info = self._is_info_question(ctx)
        if info and looks_like_question(ctx.text, self.lexicon):
            await self._answer_then_resume(ctx, flow, info)
            return
        asked = self._requirements_flow(ctx, flow)
        if asked is not None:
            self._say_requirements(ctx, asked)
            if asked.name == flow.name:
                ctx.say("resume_after_answer")
                await self._reprompt(ctx, flow)
            else:
                ctx.state["pending"] = {"kind": "switch", "flow": asked.name, "text": ""}
                ctx.say("offer_switch", choices=self._yes_no(), other_title=self.text(asked.title))
            return
        if step.type == "confirm":
            answer = self._answer_yes_no(ctx)
            if answer is True:
                await self._run(ctx, flow, idx + 1)
            elif answer is False:
                self._offer_corrections(ctx, flow)
            else:
                await self._not_an_answer(ctx, flow, step)
            return
        value = self._keyword_values(ctx, flow, ctx.text, None).get(step.slot) if step.extract else None  # type: ignore[arg-type]
        if value is None:
            value = self._validate(ctx, step, ctx.text)
        if step.validator in ("text", "name") and "?" in ctx.text:
            value = None  # a question is not a name or a reason
        if value is None and step.other_option and "?" not in ctx.text and len(normalize(ctx.text).split()) >= 2 \
                and not looks_like_question(ctx.text, self.lexicon) and not any(c.isdigit() for c in ctx.text):
            value = step.other_option
            ctx.slots[step.other_slot or f"{step.slot}_detail"] = ctx.text
        if value is None and step.validator == "yesno" and ctx.intent in ("affirm", "deny") and ctx.confidence >= 0.8:
            value = ctx.intent == "affirm"
        if value is None:
            await self._not_an_answer(ctx, flow, step)
            return
        if step.validator == "yesno" and value is not None:
            value = bool(value)
        ctx.slots[step.slot] = value  # type: ignore[index]
        self._prefill(ctx, flow, ctx.text, exclude=step.slot)
        await self._run(ctx, flow, idx + 1)

    async def _answer_then_resume(self, ctx: Ctx, flow: Flow, intent: str) -> None:
        self._info(ctx, intent)
        ctx.say("resume_after_answer")
        await self._reprompt(ctx, flow)

    async def _not_an_answer(self, ctx: Ctx, flow: Flow, step: Step) -> None:
        before = dict(ctx.slots)
        self._prefill(ctx, flow, ctx.text, exclude=step.slot)
        if ctx.slots != before:  # answers to later questions: keep them, ask this one again
            ctx.say("noted_later")
            await self._reprompt(ctx, flow)
            return
        info = self._is_info_question(ctx)
        if info:
            await self._answer_then_resume(ctx, flow, info)
            return
        if ctx.intent in ("greet", "thanks") and ctx.confidence >= 0.8 and len(normalize(ctx.text).split()) <= 4:
            ctx.say("midflow_" + ctx.intent)
            await self._reprompt(ctx, flow)
            return
        other = self.bundle.intent_flow.get(ctx.intent or "")
        if other and other != flow.name and ctx.confidence >= 0.8:
            ctx.state["pending"] = {"kind": "switch", "flow": other, "text": ctx.text}
            ctx.say("offer_switch", choices=self._yes_no(), other_title=self.text(self.flows[other].title))
            return
        if looks_like_question(ctx.text, self.lexicon):
            answer = self._faq_answer(ctx, min_confidence=0.5)
            if answer:
                ctx.replies.append(Reply(answer))
            else:
                ctx.say("faq_unknown")
            ctx.say("resume_after_answer")
            await self._reprompt(ctx, flow)
            return
        if ctx.intent == "stop" and ctx.confidence >= 0.8:
            ctx.state["pending"] = {"kind": "abort"}
            ctx.say("abort_confirm", choices=self._yes_no())
            return
        if self._count_fail(ctx, step.id):
            return
        if step.type == "confirm":
            self._summary(ctx, flow, step)
        elif step.reask:
            self._prompt(ctx, step, step.reask)
        else:
            prompt = self.text(step.prompt, ctx) if step.prompt else ""  # type: ignore[arg-type]
            ctx.say("reask_generic", choices=self._shown_choices(ctx, step), prompt=prompt)

    def _keyword_values(self, ctx: Ctx, flow: Flow, text: str, exclude: str | None) -> dict[str, Any]:
        """Values found right after a step's keywords ('lahir 3 Mei 1960', 'wafat 14/8/2025')."""
        norm = " " + normalize(text) + " "
        spots: list[tuple[int, int, Step]] = []
        for step in flow.steps:
            if step.type != "ask" or not step.slot or step.slot == exclude or not step.extract:
                continue
            if step.when and not self._cond(ctx, step.when):
                continue
            for kw in step.extract:
                k = " " + normalize(kw) + " "
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
            value = self._validate(ctx, step, _original(text, fragment) if step.validator == "name" else fragment)
            if value is not None:
                found[step.slot] = value  # type: ignore[index]
        return found

    def _prefill(self, ctx: Ctx, flow: Flow, text: str, exclude: str | None) -> None:
        """Take answers to later questions from the same message ('porsi 0312345678 lahir 3 Mei 1960')."""
        for slot, value in self._keyword_values(ctx, flow, text, exclude).items():
            if ctx.slots.get(slot) is None:
                ctx.slots[slot] = value
        for step in flow.steps:
            if step.type == "ask" and step.extract_bare and step.slot and step.slot != exclude \
                    and ctx.slots.get(step.slot) is None:
                if step.when and not self._cond(ctx, step.when):
                    continue
                if step.validator == "choice":
                    value = self._only_option(ctx, step, text)
                else:
                    value = self._validate(ctx, step, text)
                if value is not None:
                    ctx.slots[step.slot] = value

    def _only_option(self, ctx: Ctx, step: Step, text: str) -> str | None:
        """The one option whose words occur in a free message (None if none or several do)."""
        hits = {c.value for c in self._choices(ctx, step) if contains_phrase(text, list(c.words))}
        return hits.pop() if len(hits) == 1 else None

    # ------------------------------------------------------------------ corrections

    def _correctable(self, ctx: Ctx, flow: Flow) -> list[dict[str, Any]]:
        """Answers given so far (in flow order) and documents sent, as correction targets."""
        out: list[dict[str, Any]] = []
        cur = self._current(ctx, flow)
        cur_idx = cur[0] if cur else len(flow.steps)
        for i, step in enumerate(flow.steps):
            if step.type == "ask" and step.label and ctx.slots.get(step.slot) is not None and i <= cur_idx:  # type: ignore[arg-type]
                out.append({"kind": "slot", "step": step.id, "label": self.text(step.label), "words": step.words})
            if step.type == "documents" and ctx.state.get("docs"):
                checklist = self._checklist(ctx, step)
                for item in checklist.items:
                    entry = ctx.state["docs"].get(item.key) or {}
                    if entry.get("ids") or entry.get("status") in DOC_DONE:
                        out.append({"kind": "doc", "step": step.id, "item": item.key, "label": item.name,
                                    "words": item.words})
        return out

    async def _correction(self, ctx: Ctx, flow: Flow) -> bool:
        """'NIK saya salah', 'ubah tanggal', 'ganti foto KTP' -> re-ask that answer or document."""
        if not ctx.text or not contains_phrase(ctx.text, self.lexicon.correction):
            return False
        targets = self._correctable(ctx, flow)
        best: tuple[int, dict[str, Any]] | None = None
        for order, target in enumerate(targets):
            hit = contains_phrase(ctx.text, [*target["words"], target["label"]])
            if hit:
                score = len(hit) * 1000 + order  # longest phrase, then the latest answer
                if best is None or score > best[0]:
                    best = (score, target)
        if best is None:
            return False
        await self._apply_correction(ctx, flow, best[1])
        return True

    def _offer_corrections(self, ctx: Ctx, flow: Flow) -> None:
        targets = [t for t in self._correctable(ctx, flow)]
        options = [{k: t.get(k) for k in ("kind", "step", "item", "label")} for t in targets]
        ctx.state["pending"] = {"kind": "correct", "options": options}
        ctx.say("correction_pick", choices=[o["label"] for o in options])

    async def _apply_correction(self, ctx: Ctx, flow: Flow, target: dict[str, Any]) -> None:
        step = flow.steps[flow.index(target["step"])]
        ctx.say("correction_ok", label=target["label"])
        if target["kind"] == "doc":
            await self._replace_item(ctx, target["item"])
            ctx.state["doc_item"] = target["item"]
            ctx.state["step"] = step.id
            self._doc_prompt(ctx, self._checklist(ctx, step), self._item(self._checklist(ctx, step), target["item"]))
            return
        for slot in [step.slot, *step.clears]:
            ctx.slots.pop(slot, None)
        if step.slot == "porsi":
            ctx.state.pop("pilgrim", None)
            ctx.state["verified"] = None
        ctx.fails.pop(step.id, None)
        await self._run(ctx, flow, flow.index(step.id))

    # ------------------------------------------------------------------ documents

    def _checklist(self, ctx: Ctx, step: Step) -> Checklist:
        """The step's checklist for the current answers (an empty one while a slot it names is unset)."""
        name = str(step.checklist)
        for slot, value in ctx.slots.items():
            name = name.replace("{" + slot + "}", str(value))
        return self.rules.checklists.get(name) or Checklist.model_construct(legal_basis="", items=[])

    def _checklist_name(self, ctx: Ctx, flow: Flow) -> str | None:
        step = next((s for s in flow.steps if s.type == "documents"), None)
        if step is None or (step.when and not self._cond(ctx, step.when)):
            return None
        name = str(step.checklist)
        for slot, value in ctx.slots.items():
            name = name.replace("{" + slot + "}", str(value))
        return name

    @staticmethod
    def _item(checklist: Checklist, key: str | None) -> ChecklistItem | None:
        return next((i for i in checklist.items if i.key == key), None)

    def _next_item(self, ctx: Ctx, checklist: Checklist) -> ChecklistItem | None:
        docs = ctx.state.setdefault("docs", {})
        return next((i for i in checklist.items if (docs.get(i.key) or {}).get("status") not in DOC_DONE), None)

    def _doc_prompt(self, ctx: Ctx, checklist: Checklist, item: ChecklistItem | None) -> None:
        if item is None:
            return
        n = checklist.items.index(item) + 1
        ctx.say("doc_prompt", n=n, total=len(checklist.items), name=item.name,
                form=self.rules.documents.form_labels.get(item.form, item.form), hint=item.hint[:1].upper() + item.hint[1:],
                optional=self.text("doc_optional") if item.optional else "")

    async def _replace_item(self, ctx: Ctx, item_key: str) -> None:
        entry = ctx.state.setdefault("docs", {}).get(item_key) or {}
        ids = entry.get("ids") or []
        if ids:
            await ctx.session.execute(update(CaseDocument).where(
                CaseDocument.id.in_(ids), CaseDocument.case_id.is_(None)).values(status="replaced"))
        ctx.state["docs"][item_key] = {"status": "open", "ids": []}

    async def _store_files(self, ctx: Ctx, item_key: str, case_id: int | None) -> tuple[list[int], list[str]]:
        """Check each file; make CaseDocument rows for the good ones. Returns (new ids, problem keys)."""
        ids: list[int] = []
        problems: list[str] = []
        for f in ctx.turn.files:
            result = await self._inspect(ctx, f)
            if not result.ok:
                problems.append(result.problem or "doc_unreadable")
                continue
            doc = CaseDocument(case_id=case_id, conversation_id=ctx.conv.id, item_key=item_key, sha256=f.sha256,
                               content_type=f.content_type, size=f.size, page_count=result.page_count,
                               status="received", created_at=ctx.now)
            ctx.session.add(doc)
            await ctx.session.flush()
            ids.append(doc.id)
        return ids, problems

    async def _inspect(self, ctx: Ctx, f: StoredFile):  # -> Inspection
        from dialogues.documents import Inspection

        if f.content_type not in self.rules.documents.accepted_types:
            return Inspection(False, "doc_bad_type")
        if f.size > self.settings.max_upload_bytes:
            return Inspection(False, "doc_too_large")
        try:
            data = await ctx.files.read(f.sha256)
        except (OSError, ValueError):
            return Inspection(False, "doc_unreadable")
        return await asyncio.to_thread(inspect, data, f.content_type, self.rules.documents,
                                       self.settings.max_upload_bytes)

    async def _doc_input(self, ctx: Ctx, flow: Flow, idx: int, step: Step) -> None:
        checklist = self._checklist(ctx, step)
        item = self._item(checklist, ctx.state.get("doc_item")) or self._next_item(ctx, checklist)
        if item is None:
            await self._run(ctx, flow, idx)
            return
        docs = ctx.state.setdefault("docs", {})
        entry = docs.setdefault(item.key, {"status": "open", "ids": []})
        lex = self.lexicon
        if ctx.turn.files:
            ids, problems = await self._store_files(ctx, item.key, None)
            entry["ids"] = [*entry.get("ids", []), *ids]
            for key in dict.fromkeys(problems):
                ctx.say(key)
            if ids:
                ctx.fails.pop(step.id, None)
                ctx.say("doc_received", name=item.name, count=len(entry["ids"]))
            return
        words = normalize(ctx.text).split()
        if contains_phrase(ctx.text, lex.skip) and len(words) <= 5:
            entry["status"] = "skipped" if item.optional else "missing"
            if entry.get("ids"):
                entry["status"] = "sent"
            else:
                ctx.say("doc_skipped" if item.optional else "doc_required_skipped", name=item.name)
            await self._run(ctx, flow, idx)
            return
        if (contains_phrase(ctx.text, lex.done) or parse_yes_no(ctx.text, lex) is True) and len(words) <= 5:
            if entry.get("ids"):
                entry["status"] = "sent"
                await self._run(ctx, flow, idx)
            else:
                ctx.say("doc_no_file_yet", name=item.name)
            return
        if contains_phrase(ctx.text, lex.replace) and len(words) <= 5 and entry.get("ids"):
            await self._replace_item(ctx, item.key)
            ctx.say("doc_replaced", name=item.name)
            return
        info = self._is_info_question(ctx)
        if info:
            self._info(ctx, info)
            ctx.say("resume_after_answer")
            self._doc_prompt(ctx, checklist, item)
            return
        if self._count_fail(ctx, step.id):
            return
        ctx.say("doc_expected", name=item.name)

    async def _resend_files(self, ctx: Ctx) -> None:
        resend = ctx.state["resend"]
        ids, problems = await self._store_files(ctx, resend["item_key"], resend["case_id"])
        for key in dict.fromkeys(problems):
            ctx.say(key)
        if not ids:
            return
        if not resend.get("ids"):
            await ctx.session.execute(update(CaseDocument).where(
                CaseDocument.case_id == resend["case_id"], CaseDocument.item_key == resend["item_key"],
                CaseDocument.id.not_in(ids), CaseDocument.status != "replaced").values(status="replaced"))
        resend["ids"] = [*resend.get("ids", []), *ids]
        ctx.session.add(AuditLog(at=ctx.now, actor="bot", action="document_resent", case_id=resend["case_id"],
                                 conversation_id=ctx.conv.id, detail={"item_key": resend["item_key"], "ids": ids}))
        ctx.say("resend_thanks", ticket=resend["ticket"], name=resend["name"], count=len(resend["ids"]))

    def _item_name(self, case: Case, item_key: str) -> str:
        checklist = self.rules.checklists.get(str((case.answers or {}).get("_checklist") or ""))
        item = self._item(checklist, item_key) if checklist else None
        if item is None:
            item = next((i for c in self.rules.checklists.values() for i in c.items if i.key == item_key), None)
        return item.name if item else item_key

    # ------------------------------------------------------------------ summary and case answers

    def _doc_lines(self, ctx: Ctx, flow: Flow) -> list[str]:
        name = self._checklist_name(ctx, flow)
        if not name or name not in self.rules.checklists:
            return []
        lines = [self.text("documents_header")]
        docs = ctx.state.get("docs", {})
        for item in self.rules.checklists[name].items:
            entry = docs.get(item.key) or {}
            if entry.get("ids"):
                lines.append(self.text("documents_line_ok", name=item.name, count=len(entry["ids"])))
            elif entry.get("status") == "skipped":
                lines.append(self.text("documents_line_skipped", name=item.name))
            else:
                lines.append(self.text("documents_line_missing", name=item.name))
        return lines

    def _summary(self, ctx: Ctx, flow: Flow, step: Step) -> None:
        parts = [self.text(step.summary, ctx), *self._doc_lines(ctx, flow), "", self.text("summary_footer")]  # type: ignore[arg-type]
        ctx.replies.append(Reply("\n".join(parts).strip(), choices=self._yes_no()))

    def case_answers(self, ctx: Ctx, flow: Flow) -> dict[str, Any]:
        """What a case stores: every answer (no secrets), labels of choices, the checklist and its items."""
        answers = actions.answers_for_case(ctx.slots)
        labels: dict[str, str] = {}
        for step in flow.steps:
            if step.type == "ask" and step.slot in answers:
                if step.label:
                    labels[step.slot] = self.text(step.label)  # type: ignore[index]
                if step.validator == "choice":
                    chosen = next((c.label for c in self._choices(ctx, step) if c.value == answers[step.slot]), None)
                    if chosen:
                        answers[f"{step.slot}_label"] = chosen
        name = self._checklist_name(ctx, flow)
        if name not in self.rules.checklists:
            name = None
        answers["_labels"] = labels
        answers["_checklist"] = name
        if name:
            docs = ctx.state.get("docs", {})
            answers["_documents"] = {
                i.key: {"name": i.name, "form": i.form, "optional": i.optional,
                        "status": "sent" if (docs.get(i.key) or {}).get("ids") else
                        (docs.get(i.key) or {}).get("status") or "missing",
                        "files": len((docs.get(i.key) or {}).get("ids", []))}
                for i in self.rules.checklists[name].items}
        return answers
