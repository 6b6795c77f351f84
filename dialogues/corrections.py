"""Corrections mid-flow: 'NIK saya salah', 'ubah tanggal', 'ganti foto KTP', or 'tidak' at the summary."""
from __future__ import annotations

import re
from typing import Any

from dialogues.context import DOC_DONE, Ctx
from dialogues.parsing import contains_phrase, normalize
from dialogues.schema import Flow, Step

TYPED = ("porsi", "nik", "date", "past_date", "identity", "account_number", "bank", "ticket")
# words between the named answer and its new value: 'lahirnya adalah 5 juni', 'nama penerima harusnya Rahmat'
FILLERS = ("adalah", "itu", "jadi", "menjadi", "yaitu", "yakni", "nyo", "nya", "kok", "sih", "seharusnya",
           "harusnya", "mestinya", "yang benar", "yg benar", "yg bener", "yang bener", "bukan itu", "tapi", "tp")
POLITE_TAIL = ("pak", "bu", "min", "kak", "bang", "uda", "uni", "ya", "yo", "deh", "dong", "nih", "ok", "oke")


def text_after(text: str, phrase: str) -> str:
    """The part of `text` after the words of `phrase` (a particle like -nya/-nyo may be attached)."""
    words = normalize(phrase).split()
    if not words:
        return ""
    pattern = r"\W+".join(re.escape(w) for w in words) + r"(?:nya|nyo|lah)?\b"
    m = re.search(pattern, text, re.IGNORECASE)
    return text[m.end():] if m else ""


def strip_fillers(text: str, fillers: list[str]) -> str:
    """Drop leading filler words/punctuation and a trailing polite word ('Rahmat pak' -> 'Rahmat')."""
    rest = text.strip(" ,.:;-=!")
    phrases = sorted({normalize(f) for f in fillers if normalize(f)}, key=len, reverse=True)
    changed = True
    while changed and rest:
        changed = False
        for f in phrases:
            m = re.match(r"(?i)" + r"\W+".join(re.escape(w) for w in f.split()) + r"\b[\s,.:;-]*", rest)
            if m:
                rest = rest[m.end():]
                changed = True
                break
    words = rest.split()
    while words and normalize(words[-1]) in POLITE_TAIL:
        words.pop()
    return " ".join(words).strip(" ,.:;-!")


class Corrections:
    """Part of DialogueEngine (a mixin): uses its text(), flows, rules and flow runner."""

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
        """'eh salah, lahirnya 5 juni 1960' -> change that answer and say so; 'NIK saya salah' -> re-ask it."""
        if not ctx.text:
            return False
        lex = self.lexicon
        strong = contains_phrase(ctx.text, lex.correction) is not None
        if not strong and contains_phrase(ctx.text, lex.correction_soft) is None:
            return False
        targets = self._correctable(ctx, flow)
        best: tuple[int, dict[str, Any], str] | None = None
        for order, target in enumerate(targets):
            hit = contains_phrase(ctx.text, [*target["words"], target["label"]])
            if hit:
                score = len(hit) * 1000 + order  # longest phrase, then the latest answer
                if best is None or score > best[0]:
                    best = (score, target, hit)
        if best is not None and best[1]["kind"] == "slot":
            step = flow.steps[flow.index(best[1]["step"])]
            value = self._corrected_value(ctx, step, best[2])
            if value is not None:
                await self._change_answer(ctx, flow, step, value)
                return True
        if best is None:
            step = self._only_typed_fit(ctx, flow, targets) if strong else None
            if step is None:
                return False
            await self._change_answer(ctx, flow, step, self._validate(ctx, step, ctx.text))
            return True
        if not strong:
            return False
        await self._apply_correction(ctx, flow, best[1])
        return True

    def _corrected_value(self, ctx: Ctx, step: Step, hit: str) -> Any:
        """The new value written after the named answer ('nama penerimanya Rahmat'), if it differs."""
        rest = text_after(ctx.text, hit)
        rest = strip_fillers(rest, [*self.lexicon.correction, *self.lexicon.correction_soft, *FILLERS])
        value = None
        if rest:
            value = self._validate(ctx, step, rest)
        if value is None and step.validator in TYPED:
            value = self._validate(ctx, step, ctx.text)
        if value is None or value == ctx.slots.get(step.slot):  # type: ignore[arg-type]
            return None
        return value

    def _only_typed_fit(self, ctx: Ctx, flow: Flow, targets: list[dict[str, Any]]) -> Step | None:
        """'salah, 0312345679': the one earlier answer whose type the new value has (porsi, NIK, date...)."""
        fits = []
        for target in targets:
            step = flow.steps[flow.index(target["step"])]
            if target["kind"] != "slot" or step.validator not in TYPED or step.validator == "identity":
                continue
            value = self._validate(ctx, step, ctx.text)
            if value is not None and value != ctx.slots.get(step.slot):  # type: ignore[arg-type]
                fits.append(step)
        return fits[0] if len(fits) == 1 else None

    async def _change_answer(self, ctx: Ctx, flow: Flow, step: Step, value: Any) -> None:
        """Store the corrected value (rules checked first), say so, and continue where the flow was."""
        cur = self._current(ctx, flow)
        refusal = self._refusal(ctx, step, value)
        if refusal is not None:
            self._say_refusal(ctx, step, refusal, value)
            await self._reprompt(ctx, flow)
            return
        ctx.slots[step.slot] = value  # type: ignore[index]
        for slot in step.clears:
            ctx.slots.pop(slot, None)
        if step.validator == "porsi":  # another porsi: its verification no longer holds
            ctx.state.pop("pilgrim", None)
            ctx.state["verified"] = None
        ctx.fails.pop(step.id, None)
        label = self.text(step.label) if step.label else step.slot
        if len(label) > 1 and label[1].islower():
            label = label[0].lower() + label[1:]
        ctx.say("correction_done", label=label, value=self._label_of(ctx, step, value))
        ctx.state.pop("pending", None)
        await self._run(ctx, flow, flow.index(step.id) + 1, quiet_before=cur[0] if cur else None)

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
        if step.validator == "porsi":  # another porsi: its verification no longer holds
            ctx.state.pop("pilgrim", None)
            ctx.state["verified"] = None
        ctx.fails.pop(step.id, None)
        await self._run(ctx, flow, flow.index(step.id))
