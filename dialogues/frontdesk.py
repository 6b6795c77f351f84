"""Outside a flow: greeting, menu, info and FAQ answers, requirements, subscriptions, hand-off to staff."""
from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from dialogues.calendar import next_opening, office_open
from dialogues.context import Ctx, INFO_INTENTS
from dialogues.parsing import contains_phrase, find_number, message_key, normalize, only_key, pick_option
from dialogues.questions import (
    FAQ_CONFIDENCE, INFO_ANSWERS, MAX_ANSWERS, PART_CONFIDENCE, faq_response, is_choice_number, numbered_references,
    reading_is_out_of_scope, topic_key,
)
from dialogues.render import render_template
from dialogues.replies import Reply
from dialogues.schema import Flow
from dialogues.validators import ValidationContext, looks_like_question, validate
from storage.models import AuditLog
from storage.optouts import record_optout

if TYPE_CHECKING:
    from dialogues.engine import DialogueEngine


class FrontDesk:
    """Outside a flow: menu, info and FAQ answers, requirements, subscriptions, hand-off to staff. A collaborator of
    the DialogueEngine: texts and the flow runner come from `self.engine`."""

    def __init__(self, engine: DialogueEngine) -> None:
        self.engine = engine

    def menu(self, ctx: Ctx) -> None:
        ctx.state["last_choices"] = "menu"
        ctx.state["last_list"] = [m.intent for m in self.engine.bundle.menu]  # what "no 2 dan 3" refers to
        ctx.say("menu", choices=list(self._menu_labels))

    @cached_property
    def _menu_labels(self) -> tuple[str, ...]:
        return tuple(self.engine.text(m.label) for m in self.engine.bundle.menu)

    @cached_property
    def _menu_by_name(self) -> dict[tuple[str, ...], str]:
        """The intent of the menu item whose exact name (one of its words, or its label) a message is; the first
        item in menu order when names repeat (is_only of each item's names, in order)."""
        table: dict[tuple[str, ...], str] = {}
        for item, label in zip(self.engine.bundle.menu, self._menu_labels):
            for phrase in [*item.words, label]:
                table.setdefault(only_key(phrase), item.intent)
        return table

    def _menu_pick(self, ctx: Ctx, numbers_only: bool) -> str | None:
        labels = list(self._menu_labels)
        if numbers_only and not normalize(ctx.text).isdigit() and ctx.state.get("last_choices") != "menu":
            return None
        idx = pick_option(ctx.text, labels, [m.words for m in self.engine.bundle.menu])
        return self.engine.bundle.menu[idx].intent if idx is not None else None

    def own_intent(self, ctx: Ctx) -> str | None:
        """Keyword understanding used when the NLU is unsure or absent."""
        lex = self.engine.lexicon
        if reading_is_out_of_scope(ctx.turn.parse):  # "harga cabe naik": no keyword makes it a Hajj question
            return None
        if contains_phrase(ctx.text, lex.unsubscribe):
            return "unsubscribe"
        if contains_phrase(ctx.text, lex.subscribe):
            return "subscribe"
        if looks_like_question(ctx.text, lex):
            for intent, words in (("ask_cost", lex.info_cost), ("ask_schedule", lex.info_schedule),
                                  ("ask_office", lex.info_office)):
                if contains_phrase(ctx.text, words):
                    return intent
        if validate("ticket", ctx.text, ValidationContext(lex, ctx.today, [])):
            return "check_case_status"
        if find_number(ctx.text, 10):
            return "check_porsi"
        return None

    async def top_level(self, ctx: Ctx) -> None:
        if ctx.turn.files and not ctx.text:
            ctx.say("no_flow_files")
            self.menu(ctx)
            return
        if await self._numbered_reference(ctx):
            return
        if self._several_questions(ctx):
            ctx.state.pop("top_fails", None)
            return
        last = ctx.state.pop("last_choices", None)
        if last == "info":
            idx = pick_option(ctx.text, self.engine.items("info_choices"), [[], [], []])
            if idx is not None:
                self.info(ctx, ("ask_cost", "ask_schedule", "ask_office")[idx])
                return
        asked = self.requirements_flow(ctx, None)
        if asked is not None:
            self.say_requirements(ctx, asked)
            ctx.state["pending"] = {"kind": "switch", "flow": asked.name, "text": ""}
            ctx.say("requirements_start", choices=self.engine.yes_no(), other_title=self.engine.text(asked.title))
            return
        intent = self._menu_by_name.get(message_key(ctx.text))  # the exact name of a menu item wins over the NLU
        if intent is None and last == "menu" and normalize(ctx.text).isdigit():
            ctx.state["last_choices"] = "menu"
            intent = self._menu_pick(ctx, numbers_only=True)
        if intent is None and ctx.intent and ctx.confidence >= 0.5 and ctx.intent not in ("nlu_fallback", "out_of_scope"):
            intent = ctx.intent
        if intent is None and reading_is_out_of_scope(ctx.turn.parse) and not is_choice_number(ctx.text):
            self._out_of_scope(ctx)
            return
        intent = intent or self.own_intent(ctx) or self._menu_pick(ctx, numbers_only=False)
        if intent is None and ctx.intent in ("faq",):
            intent = "faq"
        await self._run_intent(ctx, intent)

    async def _run_intent(self, ctx: Ctx, intent: str | None) -> None:
        flow_name = self.engine.bundle.intent_flow.get(intent or "")
        if flow_name:
            ctx.state.pop("top_fails", None)
            await self.engine.start_flow(ctx, self.engine.flows[flow_name], ctx.text, {})
            return
        if intent == "greet":
            ctx.say("greet")
            self.menu(ctx)
        elif intent in ("menu", "affirm", "deny", "stop"):
            self.menu(ctx)
        elif intent == "info_menu":
            ctx.state["last_choices"] = "info"
            ctx.state["last_list"] = list(INFO_ANSWERS)
            ctx.say("info_menu", choices=self.engine.items("info_choices"))
        elif intent in INFO_INTENTS:
            self.info(ctx, intent)
        elif intent == "thanks":
            ctx.say("thanks")
        elif intent == "goodbye":
            ctx.say("goodbye")
        elif intent == "subscribe":
            ctx.conv.subscribed = True
            ctx.conv.subscribed_at = ctx.now
            ctx.say("subscribed")
        elif intent == "unsubscribe":
            await record_optout(ctx.session, ctx.conv.id, "unsubscribe", ctx.now)
            ctx.conv.subscribed = False
            ctx.say("unsubscribed")
        elif intent == "human_handoff":
            await self.handoff(ctx)
        else:
            n = int(ctx.state.get("top_fails", 0)) + 1
            ctx.state["top_fails"] = n
            if n >= self.engine.settings.max_failed_attempts:
                ctx.state["top_fails"] = 0
                ctx.state["pending"] = {"kind": "handoff"}
                ctx.say("fail_offer_handoff", choices=self.engine.yes_no())
                return
            ctx.say("not_understood")
            self.menu(ctx)
            return
        ctx.state.pop("top_fails", None)

    def _out_of_scope(self, ctx: Ctx) -> None:
        """Another topic: say so politely (umrah and other offices by name), then the menu."""
        ctx.state.pop("top_fails", None)
        ctx.say(topic_key(ctx.readings, self.engine.bundle.responses.get("out_of_scope_topics"), "out_of_scope"))
        self.menu(ctx)

    def _info_text(self, intent: str, selector: dict | None, min_faq: float = FAQ_CONFIDENCE) -> str | None:
        """The answer to one information question (FAQ answers only when confident)."""
        if intent == "faq":
            return faq_response(selector, min_faq)
        if intent in INFO_ANSWERS:
            texts = self.engine.rules.info
            template = {"ask_cost": texts.cost, "ask_schedule": texts.schedule, "ask_office": texts.office}[intent]
            return render_template(template, self.engine.base_vars())
        return None

    def _requirements_text(self, flow: Flow) -> str:
        lines: list[str] = []
        for name in flow.requirements:
            checklist = self.engine.rules.checklists[name]
            lines.append(self.engine.text("requirements_header", title=checklist.title or name))
            form_labels = self.engine.rules.documents.form_labels
            lines += [self.engine.text("requirements_item", name=i.name, form=form_labels.get(i.form, i.form))
                      for i in checklist.items]
            lines.append("")
        lines.append(self.engine.text("requirements_note"))
        return "\n".join(lines).strip()

    def _part_answer(self, part: dict) -> str | None:
        """The answer to one question of a message with several (None: not an information question)."""
        intent = (part.get("intent") or {}).get("name")
        try:
            confidence = float((part.get("intent") or {}).get("confidence") or 0.0)
        except (TypeError, ValueError):
            return None
        if intent in (None, "nlu_fallback", "out_of_scope") or confidence < PART_CONFIDENCE:
            return None
        text = str(part.get("text") or "")
        flow = self.engine.flows.get(self.engine.bundle.intent_flow.get(intent, ""))
        if flow is not None and flow.requirements and contains_phrase(text, self.engine.lexicon.requirements):
            return self._requirements_text(flow)
        return self._info_text(intent, part.get("response_selector"))

    def _part_answers(self, ctx: Ctx) -> tuple[list[tuple[str, str]], list[str]]:
        """(question, answer) for each information question of a message with several (identical answers
        once: "kantor dmn? jam brp buka?"), and the flows its other parts ask for."""
        parts = (ctx.turn.parse or {}).get("parts")
        answers: list[tuple[str, str]] = []
        flows: list[str] = []
        if not isinstance(parts, list) or len(parts) < 2:
            return answers, flows
        for part in parts:
            if not isinstance(part, dict):
                continue
            answer = self._part_answer(part)
            if answer is None:
                name = self.engine.bundle.intent_flow.get((part.get("intent") or {}).get("name") or "")
                if name and float((part.get("intent") or {}).get("confidence") or 0) >= 0.8 and name not in flows:
                    flows.append(name)
            elif all(answer != a for _q, a in answers):
                answers.append((str(part.get("text") or ""), answer))
        return answers, flows

    def _say_answers(self, ctx: Ctx, answers: list[tuple[str, str]]) -> None:
        """Numbered answers, in the order asked, at most MAX_ANSWERS."""
        for number, (question, answer) in enumerate(answers[:MAX_ANSWERS], 1):
            ctx.replies.append(Reply(self.engine.text("multi_answer_header", number=number, question=question) + "\n"
                                     + answer))
        if len(answers) > MAX_ANSWERS:
            ctx.say("multi_more")

    def _several_questions(self, ctx: Ctx) -> bool:
        """Answer each information question of the message, in order (up to MAX_ANSWERS); then offer the
        service the message also asks for. False when fewer than two questions could be answered."""
        answers, flows = self._part_answers(ctx)
        if len(answers) < 2:
            return False
        self._say_answers(ctx, answers)
        if flows:
            ctx.state["pending"] = {"kind": "switch", "flow": flows[0], "text": ""}
            ctx.say("requirements_start", choices=self.engine.yes_no(),
                    other_title=self.engine.text(self.engine.flows[flows[0]].title))
        else:
            ctx.say("multi_footer")
        return True

    async def _numbered_reference(self, ctx: Ctx) -> bool:
        """"yg no 3 gmn" / "no 2 dan 3?": the items of the bot's last numbered list (menu or info menu)."""
        refs = numbered_references(ctx.text)
        items = ctx.state.get("last_list")
        if not refs or not isinstance(items, list) or not items:
            return False
        wrong = [n for n in refs if n > len(items)]
        if wrong:
            ctx.say("numbered_unknown", number=wrong[0])
            self.menu(ctx)
            return True
        ctx.state.pop("last_choices", None)
        chosen = [str(items[n - 1]) for n in refs]
        if len(chosen) == 1:
            await self._run_intent(ctx, chosen[0])
            return True
        flows_offered = False
        for n, intent in zip(refs, chosen):
            answers = INFO_ANSWERS if intent == "info_menu" else (intent,)
            texts = [t for t in (self._info_text(a, None) for a in answers) if t]
            flow = self.engine.flows.get(self.engine.bundle.intent_flow.get(intent, ""))
            if texts:
                ctx.replies.append(Reply("\n\n".join(texts)))
            elif flow is not None and flow.requirements:
                ctx.replies.append(Reply(self._requirements_text(flow)))
                flows_offered = True
            else:
                title = self.engine.text(flow.title) if flow else self.engine.text(self._menu_label(intent))
                ctx.replies.append(Reply(self.engine.text("numbered_flow_hint", number=n, title=title)))
                flows_offered = True
        if flows_offered:
            ctx.say("numbered_pick_one")
            self.menu(ctx)
        else:
            ctx.say("multi_footer")
        return True

    def _menu_label(self, intent: str) -> str:
        return next((m.label for m in self.engine.bundle.menu if m.intent == intent), "menu")

    def info(self, ctx: Ctx, intent: str) -> bool:
        """Answer an information question (each of them when the message asks several); False if there is
        nothing to say (FAQ without an answer)."""
        answers, _flows = self._part_answers(ctx)
        if len(answers) >= 2:  # also inside a flow: "brp biaya haji? kantor dmn?" before the flow resumes
            self._say_answers(ctx, answers)
            return True
        if intent == "faq":
            answer = self.faq_answer(ctx)
            if answer:
                ctx.replies.append(Reply(answer))
                return True
            ctx.say("faq_unknown")
            return False
        ctx.replies.append(Reply(self._info_text(intent, None) or ""))
        return True

    def faq_answer(self, ctx: Ctx, min_confidence: float = 0.0) -> str | None:
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

    def requirements_flow(self, ctx: Ctx, current: Flow | None) -> Flow | None:
        """The flow whose requirements a question like 'syarat pelimpahan apa saja?' asks for."""
        lex = self.engine.lexicon
        if not any(contains_phrase(t, lex.requirements) for t in ctx.readings):
            return None
        asks = any("?" in t or not set(normalize(t).split()).isdisjoint(lex.question) for t in ctx.readings)
        if not (asks or len(normalize(ctx.text).split()) <= 4):
            return None
        name = self.engine.bundle.intent_flow.get(ctx.intent or "") if ctx.confidence >= 0.5 else None
        if name is None:
            name = self._menu_pick(ctx, numbers_only=False)
            name = self.engine.bundle.intent_flow.get(name or "")
        for flow in (self.engine.flows.get(name or ""), current):  # a word like "cek" may name a flow without a checklist
            if flow is not None and flow.requirements:
                return flow
        return None

    def say_requirements(self, ctx: Ctx, flow: Flow) -> None:
        ctx.replies.append(Reply(self._requirements_text(flow)))

    async def handoff(self, ctx: Ctx) -> None:
        ctx.state.pop("pending", None)
        ctx.conv.mode = "waiting_staff"
        ctx.conv.handoff_since = ctx.now
        hours, holidays = self.engine.rules.office_hours, self.engine.rules.holidays
        if office_open(ctx.now, hours, holidays, self.engine.tz):
            ctx.say("handoff_open")
        else:
            nxt = next_opening(ctx.now, hours, holidays, self.engine.tz)
            ctx.say("handoff_closed",
                    next_open=self.engine.when_label(nxt, "next_open_label") if nxt else self.engine.office_hours)
        ctx.session.add(AuditLog(at=ctx.now, actor="bot", action="handoff_requested", conversation_id=ctx.conv.id,
                                 detail={"flow": ctx.state.get("flow"), "step": ctx.state.get("step")}))
