"""Corrections mid-flow: 'NIK saya salah', 'ubah tanggal', 'ganti foto KTP', or 'tidak' at the summary."""
from __future__ import annotations

from typing import Any

from dialogues.context import DOC_DONE, Ctx
from dialogues.parsing import contains_phrase
from dialogues.schema import Flow


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
