"""Outside a flow: greeting, menu, info and FAQ answers, requirements, subscriptions, hand-off to staff."""
from __future__ import annotations

from dialogues.context import INFO_INTENTS, Ctx
from dialogues.parsing import contains_phrase, find_number, is_only, normalize, pick_option
from dialogues.render import render_template
from dialogues.replies import Reply
from dialogues.schema import Flow
from dialogues.validators import ValidationContext, looks_like_question, validate
from storage.models import AuditLog
from storage.optouts import record_optout


class FrontDesk:
    """Part of DialogueEngine (a mixin): uses its text(), flows, rules and flow runner."""

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
        if validate("ticket", ctx.text, ValidationContext(lex, ctx.today, [])):
            return "check_case_status"
        if find_number(ctx.text, 10):
            return "check_porsi"
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
            await record_optout(ctx.session, ctx.conv.id, "unsubscribe", ctx.now)
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
        lex = self.lexicon
        if not any(contains_phrase(t, lex.requirements) for t in ctx.readings):
            return None
        asks = any("?" in t or not set(normalize(t).split()).isdisjoint(lex.question) for t in ctx.readings)
        if not (asks or len(normalize(ctx.text).split()) <= 4):
            return None
        name = self.bundle.intent_flow.get(ctx.intent or "") if ctx.confidence >= 0.5 else None
        if name is None:
            name = self._menu_pick(ctx, numbers_only=False)
            name = self.bundle.intent_flow.get(name or "")
        for flow in (self.flows.get(name or ""), current):  # a word like "cek" may name a flow without a checklist
            if flow is not None and flow.requirements:
                return flow
        return None

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
            ctx.say("handoff_closed", next_open=self.when_label(nxt, "next_open_label") if nxt else self.office_hours)
        ctx.session.add(AuditLog(at=ctx.now, actor="bot", action="handoff_requested", conversation_id=ctx.conv.id,
                                 detail={"flow": ctx.state.get("flow"), "step": ctx.state.get("step")}))
