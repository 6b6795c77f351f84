"""Document collection through chat, the summary before confirmation, and what a case stores."""
from __future__ import annotations

from typing import Any

from sqlalchemy import update

from dialogues import actions, offload
from dialogues.context import DOC_DONE, Ctx
from dialogues.documents import Inspection, inspect_offloaded, to_jpeg
from dialogues.parsing import contains_phrase, normalize, parse_yes_no
from dialogues.replies import Reply
from dialogues.schema import Checklist, ChecklistItem, Flow, Step
from storage.files import FileStore, StoredFile
from storage.models import AuditLog, Case, CaseDocument


class Collection:
    """Part of DialogueEngine (a mixin): uses its text(), flows, rules and flow runner."""

    def _checklist(self, ctx: Ctx, step: Step) -> Checklist:
        """The step's checklist for the current answers (an empty one while a slot it names is unset)."""
        name = str(step.checklist)
        for slot, value in ctx.slots.items():
            name = name.replace("{" + slot + "}", str(value))
        return self.rules.checklists.get(name) or Checklist.model_construct(legal_basis="", items=[])

    def _checklist_name(self, ctx: Ctx, flow: Flow) -> str | None:
        """The checklist of the documents step the flow's case declaration names (None: no documents)."""
        step = flow.documents_step()
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
            if f.content_type == "image/heic":  # keep a JPEG copy that every browser can show
                jpeg = await offload.run(to_jpeg, await ctx.files.read(f.sha256),
                                         self.rules.documents.max_image_pixels)
                f = await ctx.files.put(jpeg, f.filename)
            doc = CaseDocument(case_id=case_id, conversation_id=ctx.conv.id, item_key=item_key, sha256=f.sha256,
                               content_type=f.content_type, size=f.size, page_count=result.page_count,
                               warnings=list(result.warnings), status="received", created_at=ctx.now)
            ctx.session.add(doc)
            await ctx.session.flush()
            ids.append(doc.id)
        return ids, problems

    async def _inspect(self, ctx: Ctx, f: StoredFile) -> Inspection:
        checked = ctx.turn.inspections.get((f.sha256, f.content_type))
        return checked if checked is not None else await self.inspect_file(ctx.files, f)

    async def inspect_file(self, files: FileStore, f: StoredFile) -> Inspection:
        """Whether a stored file is acceptable as a document; depends only on the file and the rules."""
        if f.content_type not in self.rules.documents.accepted_types:
            return Inspection(False, "doc_bad_type")
        if f.size > self.settings.max_upload_bytes:
            return Inspection(False, "doc_too_large")
        try:
            data = await files.read(f.sha256)
        except (OSError, ValueError):
            return Inspection(False, "doc_unreadable")
        return await inspect_offloaded(data, f.content_type, self.rules.documents, self.settings.max_upload_bytes)

    async def check_files(self, files: FileStore, stored: list[StoredFile]) -> dict[tuple[str, str], Inspection]:
        """The document checks of `stored`, for Turn.inspections: the pipeline runs them before it locks the
        conversation (photo checks take milliseconds; on SQLite every write waits while the lock is held)."""
        return {(f.sha256, f.content_type): await self.inspect_file(files, f) for f in stored}

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
        if contains_phrase(ctx.text, lex.skip_all) and len(words) <= 6:
            skipped = self._skip_optional(ctx, checklist, item)
            if skipped:
                ctx.say("doc_skipped", name=", ".join(skipped))
            await self._run(ctx, flow, idx)
            return
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

    def _skip_optional(self, ctx: Ctx, checklist: Checklist, current: ChecklistItem) -> list[str]:
        """'lewati semua': skip this and the following optional items, up to the next required one."""
        docs = ctx.state.setdefault("docs", {})
        names: list[str] = []
        for item in checklist.items[checklist.items.index(current):]:
            entry = docs.setdefault(item.key, {"status": "open", "ids": []})
            if entry.get("status") in DOC_DONE:
                continue
            if not item.optional:
                break
            entry["status"] = "sent" if entry.get("ids") else "skipped"
            names.append(item.name)
        return names

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
        answers = actions.answers_for_case(ctx.slots, flow)
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
