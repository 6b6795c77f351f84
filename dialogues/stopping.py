"""Stop is not unsubscribe: ending a form, resuming it with "lanjut", and opting out of announcements.

Inside a form, "ga jadi"/"stop dulu" ends the form after a confirmation; a bare STOP/BERHENTI is asked about
(form or announcements?); "berhenti langganan" opts out of announcements and the form goes on. A stopped
form is kept for a while so "lanjut" brings it back. Every change says how to undo it.
"""
from __future__ import annotations

import copy
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from dialogues.context import FLOW_KEYS, Ctx
from dialogues.parsing import contains_phrase, is_only, normalize, pick_option
from dialogues.schema import Flow
from storage.optouts import record_optout

if TYPE_CHECKING:
    from dialogues.engine import DialogueEngine

ABORTED = "aborted_form"  # state key: the stopped form, restorable with "lanjut"


class Stopping:
    """Ending a form, resuming a stopped one, opting out of announcements. A collaborator of the DialogueEngine: texts
    and the flow runner come from `self.engine`."""

    def __init__(self, engine: DialogueEngine) -> None:
        self.engine = engine

    def _stop_choices(self) -> list[str]:
        text = self.engine.text
        return [text("choice_stop_form"), text("choice_stop_announcements"), text("choice_continue")]

    def _abort_choices(self) -> list[str]:
        return [self.engine.text("choice_abort_yes"), self.engine.text("choice_continue")]

    async def stop_request(self, ctx: Ctx, flow: Flow) -> bool:
        """Inside a form: an opt-out phrase or a bare STOP. True when handled."""
        words = self.engine.rules.conversation
        if contains_phrase(ctx.text, self.engine.lexicon.unsubscribe) and len(normalize(ctx.text).split()) <= 8:
            await self._unsubscribe(ctx)
            await self.engine.reprompt(ctx, flow)
            return True
        if is_only(ctx.text, words.ambiguous_stop):
            ctx.state["pending"] = {"kind": "stop_which"}
            ctx.say("stop_which", choices=self._stop_choices())
            return True
        return False

    def ask_abort(self, ctx: Ctx) -> None:
        ctx.state["pending"] = {"kind": "abort"}
        ctx.say("abort_confirm", choices=self._abort_choices())

    async def _unsubscribe(self, ctx: Ctx) -> None:
        await record_optout(ctx.session, ctx.conv.id, "unsubscribe", ctx.now)
        ctx.conv.subscribed = False
        ctx.say("unsubscribed")

    def _continues(self, ctx: Ctx) -> bool:
        """'lanjut', 'sy mau lanjut yg batal td', 'terus isi': the pilgrim wants to go on with the form."""
        words = [*self.engine.lexicon.resume, self.engine.text("choice_continue")]
        return any(contains_phrase(t, words) for t in ctx.readings)

    async def stop_pending(self, ctx: Ctx, pending: dict[str, Any]) -> bool:
        """Answers to 'stop which?' and 'really stop the form?'."""
        flow = self.engine.flow(ctx)
        kind = pending.get("kind")
        if kind == "stop_which":
            words = self.engine.rules.conversation
            idx = pick_option(ctx.text, self._stop_choices(),
                              [words.stop_form, words.stop_announcements, list(self.engine.lexicon.resume)])
            if idx is None and len(normalize(ctx.text).split()) <= 2 and self.engine.answer_yes_no(ctx) is not None:
                ctx.say("stop_which", choices=self._stop_choices())  # "ya" does not say which: ask again
                return True
            ctx.state.pop("pending", None)
            if idx is None:
                return False
            if idx == 0:
                self.ask_abort(ctx)
            elif idx == 1:
                await self._unsubscribe(ctx)
                if flow:
                    ctx.say("abort_cancelled")
                    await self.engine.reprompt(ctx, flow)
            else:
                ctx.say("abort_cancelled")
                if flow:
                    await self.engine.reprompt(ctx, flow)
            return True
        # kind == "abort": continuing wins over any yes-word in the same sentence ("mau lanjut")
        answer = False if self._continues(ctx) else None
        if answer is None:
            idx = pick_option(ctx.text, self._abort_choices(), [[], []])
            answer = (idx == 0) if idx is not None else self.engine.answer_yes_no(ctx)
        if answer is None:
            ctx.state.pop("pending", None)
            return False
        ctx.state.pop("pending", None)
        if answer:
            title = self.engine.text(flow.title) if flow else ""
            self._keep_aborted(ctx)
            self.engine.finish(ctx)
            ctx.say("aborted", flow_title=title)
            self.engine.front_desk.menu(ctx)
        else:
            ctx.say("abort_cancelled")
            if flow:
                await self.engine.reprompt(ctx, flow)
        return True

    def _keep_aborted(self, ctx: Ctx) -> None:
        saved = {k: copy.deepcopy(ctx.state[k]) for k in FLOW_KEYS if k in ctx.state and k != "pending"}
        if saved.get("flow"):
            ctx.state[ABORTED] = {"at": ctx.now.isoformat(), "state": saved}

    async def resume_aborted(self, ctx: Ctx) -> bool:
        """Outside a form: 'lanjut' brings back the form stopped in the last hours."""
        saved = ctx.state.get(ABORTED)
        if not saved:
            return False
        try:
            at = datetime.fromisoformat(saved["at"])
        except (KeyError, TypeError, ValueError):
            ctx.state.pop(ABORTED, None)
            return False
        if ctx.now - at > timedelta(hours=self.engine.rules.conversation.resume_aborted_hours):
            ctx.state.pop(ABORTED, None)
            return False
        if not (is_only(ctx.text, [*self.engine.lexicon.resume, self.engine.text("choice_continue")]) or (
                self._continues(ctx) and len(normalize(ctx.text).split()) <= 8)):
            return False
        state = saved.get("state") or {}
        flow = self.engine.flows.get(str(state.get("flow")))
        ctx.state.pop(ABORTED, None)
        if flow is None:
            return False
        self.engine.finish(ctx)
        ctx.state.update(copy.deepcopy(state))
        ctx.say("abort_cancelled", flow_title=self.engine.text(flow.title))
        await self.engine.reprompt(ctx, flow)
        return True
