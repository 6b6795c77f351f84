"""Messages that belong to a case already handed to the office, and media the bot cannot read.

- After staff ask for information or send an invitation (`DialogueEngine.await_reply`), the pilgrim's next
  messages and files are recorded as their reply to that case (audit entry `pilgrim_reply` pointing at the
  message); the case goes back to the review queue and the back office gets a `case.pilgrim_replied` event.
  Further messages within `conversation.reply_window_hours` of the reply reach the case too.
- A file sent outside a form while the pilgrim has an open case is a late document for that case: it fills
  the missing checklist item it names (or the only missing one); otherwise the bot asks which case / item.
- Voice notes, audio, stickers, locations and contact cards are recognised: the bot says what it can do
  (type, or talk to staff); the file stays on the message for staff and never becomes a document.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from dialogues.context import Ctx
from dialogues.parsing import contains_phrase, is_only, normalize, pick_option
from dialogues.schema import ChecklistItem
from dialogues.sla_hooks import pause_or_resume
from storage.models import AuditLog, Case, CaseDocument, Conversation

if TYPE_CHECKING:
    from dialogues.engine import DialogueEngine

OPEN_CASE_STATUSES = ("submitted", "in_review", "need_info", "invited", "approved")
BACK_TO_REVIEW = ("need_info", "invited")  # a reply puts these back in the review queue
EXTRA_ITEM = "tambahan"  # a document that is not (yet) one of the checklist's items
SPOKEN = ("voice", "audio", "video")


class CaseReplies:
    """Messages for a case already handed to the office; media the bot cannot read. A collaborator of the
    DialogueEngine: texts and the flow runner come from `self.engine`."""

    def __init__(self, engine: DialogueEngine) -> None:
        self.engine = engine

    CASE_PENDING = ("late_case", "late_item", "voice_handoff")

    # ------------------------------------------------------------------ public API (back office)

    def await_reply(self, conversation: Conversation, case: Case, kind: str, now: datetime) -> None:
        """Staff asked `conversation` something about `case` (kind: request_info | invite): the next
        messages are the pilgrim's reply to that case."""
        state = dict(conversation.state or {})
        state["awaiting"] = {"case_id": case.id, "ticket": case.ticket, "kind": kind, "since": now.isoformat()}
        conversation.state = state

    def stop_awaiting(self, conversation: Conversation, case: Case) -> None:
        """Staff acted on `case` otherwise (approved, rejected, ...): replies no longer wait for it."""
        state = dict(conversation.state or {})
        if (state.get("awaiting") or {}).get("case_id") == case.id:
            state.pop("awaiting", None)
            conversation.state = state

    # ------------------------------------------------------------------ dispatch hook

    async def case_reply(self, ctx: Ctx) -> bool:
        """Media, a reply awaited by staff, a late document. True when the turn was handled here."""
        if ctx.turn.media and not ctx.text and not ctx.turn.files:
            await self._media_only(ctx)
            return True
        if ctx.state.get("flow") or ctx.state.get("pending"):
            return False
        awaiting = self._awaiting(ctx)
        if awaiting is not None and not self._escapes(ctx, awaiting):
            case = await ctx.session.get(Case, awaiting["case_id"])
            if case is not None and case.status in OPEN_CASE_STATUSES:
                await self._record_reply(ctx, case, awaiting)
                return True
            ctx.state.pop("awaiting", None)
        if ctx.turn.files:
            return await self._late_documents(ctx)
        return False

    def _awaiting(self, ctx: Ctx) -> dict[str, Any] | None:
        awaiting = ctx.state.get("awaiting")
        if not isinstance(awaiting, dict) or not awaiting.get("case_id"):
            return None
        replied = awaiting.get("replied_at")
        if replied:
            try:
                expired = ctx.now - datetime.fromisoformat(replied) > timedelta(
                    hours=self.engine.rules.conversation.reply_window_hours)
            except ValueError:
                expired = True
            if expired:
                ctx.state.pop("awaiting", None)
                return None
        return awaiting

    def _escapes(self, ctx: Ctx, awaiting: dict[str, Any]) -> bool:
        """Commands that are not a reply: menu, staff, stop, (un)subscribe; thanks after the reply."""
        lex = self.engine.lexicon
        if not ctx.text:
            return False
        menu_items = [w for item in self.engine.bundle.menu for w in (*item.words, self.engine.text(item.label))]
        if is_only(ctx.text, [*lex.menu, *lex.stop, *menu_items]) or self.engine.wants_handoff(ctx):
            return True
        if contains_phrase(ctx.text, [*lex.unsubscribe, *lex.subscribe]) and len(normalize(ctx.text).split()) <= 5:
            return True
        short = len(normalize(ctx.text).split()) <= 4
        return bool(awaiting.get("replied_at")) and short and ctx.intent in ("thanks", "greet", "goodbye") \
            and ctx.confidence >= 0.6 and not ctx.turn.files

    # ------------------------------------------------------------------ replies to staff

    async def _record_reply(self, ctx: Ctx, case: Case, awaiting: dict[str, Any]) -> None:
        ids: list[int] = []
        item: ChecklistItem | None = None
        if ctx.turn.files:
            item = self._named_item(ctx, case, await self._missing(ctx, case))
            ids = await self._attach_documents(ctx, case, item.key if item else EXTRA_ITEM)
        first = not awaiting.get("replied_at")
        previous = case.status
        if case.status in BACK_TO_REVIEW:
            case.status = "in_review"
            case.updated_at = ctx.now
            pause_or_resume(case, self.engine.rules, self.engine.tz, ctx.now)  # the clock runs again, due dates moved
            ctx.turn.events.append(("case.status_changed", case.id, {"previous_status": previous}))
        detail = {"message_id": ctx.turn.message_id, "kind": awaiting.get("kind"), "documents": ids,
                  "media": [m.get("kind") for m in ctx.turn.media], "from_status": previous,
                  "to_status": case.status}
        ctx.session.add(AuditLog(at=ctx.now, actor="bot", action="pilgrim_reply", case_id=case.id,
                                 conversation_id=ctx.conv.id, detail=detail))
        ctx.turn.events.append(("case.pilgrim_replied", case.id, {"message_id": ctx.turn.message_id}))
        awaiting["replied_at"] = ctx.now.isoformat()
        ctx.state["awaiting"] = awaiting
        if ids:
            name = item.name if item else self.engine.text("late_doc_extra_name")
            ctx.say("case_reply_document", ticket=case.ticket, name=name, count=len(ids))
        elif ctx.turn.media and any(m.get("kind") in SPOKEN for m in ctx.turn.media):
            ctx.say("case_reply_voice", ticket=case.ticket)
        else:
            ctx.say("case_reply_received" if first else "case_reply_more", ticket=case.ticket)
        if awaiting.get("kind") == "invite" and ctx.text:
            await self.engine.booking.invitation_reply(ctx, case)

    # ------------------------------------------------------------------ late documents

    async def _open_cases(self, ctx: Ctx) -> list[Case]:
        return list((await ctx.session.execute(select(Case).where(
            Case.conversation_id == ctx.conv.id, Case.status.in_(OPEN_CASE_STATUSES)).order_by(Case.id.desc())
        )).scalars().all())

    async def _late_documents(self, ctx: Ctx) -> bool:
        cases = await self._open_cases(ctx)
        if not cases:
            return False
        if len(cases) > 1:
            named = [c for c in cases if c.ticket.lower() in ctx.text.lower()]
            if len(named) != 1:
                ids = await self._attach_documents(ctx, None, EXTRA_ITEM)
                if not ids:
                    return True
                ctx.state["pending"] = {"kind": "late_case", "ids": ids, "text": ctx.text,
                                        "cases": [c.id for c in cases[:5]]}
                ctx.say("late_doc_which_case", choices=[self._case_label(c) for c in cases[:5]])
                return True
            cases = named
        await self._file_late(ctx, cases[0], None)
        return True

    def _case_label(self, case: Case) -> str:
        return self.engine.text("late_doc_case_choice", ticket=case.ticket,
                         service_label=self.engine.mapping("service_labels", case.service))

    async def _file_late(self, ctx: Ctx, case: Case, ids: list[int] | None, text: str | None = None) -> None:
        """File the turn's documents (or the already stored `ids`) under the item they name or the only
        missing one; ask which item when that is not clear."""
        missing = await self._missing(ctx, case)
        item = self._named_item(ctx, case, missing, text)
        if item is None and len(missing) == 1:
            item = missing[0]
        if ids is None:
            ids = await self._attach_documents(ctx, case, item.key if item else EXTRA_ITEM)
            if not ids:
                return
        else:
            await ctx.session.execute(update(CaseDocument).where(CaseDocument.id.in_(ids)).values(
                case_id=case.id, item_key=item.key if item else EXTRA_ITEM))
        if item is None and missing:
            ctx.state["pending"] = {"kind": "late_item", "ids": ids, "case_id": case.id,
                                    "items": [i.key for i in missing[:8]]}
            ctx.say("late_doc_which_item", ticket=case.ticket,
                    choices=[i.name for i in missing[:8]] + [self.engine.text("late_doc_extra_name")])
            return
        self._late_recorded(ctx, case, ids, item)

    def _late_recorded(self, ctx: Ctx, case: Case, ids: list[int], item: ChecklistItem | None) -> None:
        name = item.name if item else self.engine.text("late_doc_extra_name")
        ctx.session.add(AuditLog(at=ctx.now, actor="bot", action="document_late", case_id=case.id,
                                 conversation_id=ctx.conv.id,
                                 detail={"item_key": item.key if item else EXTRA_ITEM, "ids": ids,
                                         "message_id": ctx.turn.message_id}))
        ctx.turn.events.append(("case.document_added", case.id, {"item_key": item.key if item else EXTRA_ITEM}))
        ctx.say("late_doc_received", ticket=case.ticket, name=name, count=len(ids))

    async def _voice_handoff(self, ctx: Ctx) -> bool:
        """Answer to 'type, or talk to staff?': only a short yes/no or a button; anything else is what the
        pilgrim typed instead ("sy mau cek porsi ..." is not a yes)."""
        ctx.state.pop("pending", None)
        idx = pick_option(ctx.text, self._handoff_choices(),
                          [list(self.engine.lexicon.handoff), ["ketik", "tulis", "saya tulis"]])
        if idx is None and len(normalize(ctx.text).split()) <= 3:
            answer = self.engine.answer_yes_no(ctx)
            idx = None if answer is None else (0 if answer else 1)
        if idx is None:
            return False
        if idx == 0:
            await self.engine.front_desk.handoff(ctx)
            return True
        ctx.say("handoff_declined")
        flow = self.engine.flow(ctx)
        if flow is not None:
            await self.engine.reprompt(ctx, flow)
        else:
            ctx.say("media_type_please")
        return True

    async def case_pending(self, ctx: Ctx, pending: dict[str, Any]) -> bool:
        kind = pending.get("kind")
        if kind == "voice_handoff":
            return await self._voice_handoff(ctx)
        ids = [int(i) for i in pending.get("ids", [])]
        if kind == "late_case":
            cases = [c for c in [await ctx.session.get(Case, i) for i in pending.get("cases", [])] if c is not None]
            idx = pick_option(ctx.text, [self._case_label(c) for c in cases], [[c.ticket] for c in cases])
            idx = self.engine.booking.ordinal(ctx.text, len(cases)) if idx is None else idx
            ctx.state.pop("pending", None)
            if idx is None:
                return False
            await self._file_late(ctx, cases[idx], ids, str(pending.get("text") or ""))
            return True
        case = await ctx.session.get(Case, int(pending.get("case_id") or 0))
        ctx.state.pop("pending", None)
        if case is None:
            return False
        items = [i for i in self._checklist_items(case) if i.key in pending.get("items", [])]
        labels = [i.name for i in items] + [self.engine.text("late_doc_extra_name")]
        idx = pick_option(ctx.text, labels, [list(i.words) for i in items] + [[]])
        idx = self.engine.booking.ordinal(ctx.text, len(labels)) if idx is None else idx
        if idx is None:
            return False
        item = items[idx] if idx < len(items) else None
        await ctx.session.execute(update(CaseDocument).where(CaseDocument.id.in_(ids)).values(
            item_key=item.key if item else EXTRA_ITEM))
        self._late_recorded(ctx, case, ids, item)
        return True

    # ------------------------------------------------------------------ helpers

    def _checklist_items(self, case: Case) -> list[ChecklistItem]:
        """The case's checklist: the one stored with it, else the service's variant, else the service's."""
        stored = (case.answers or {}).get("_checklist")
        for name in (stored, f"{case.service}_{case.variant}" if case.variant else None, case.service):
            if name and str(name) in self.engine.rules.checklists:
                return list(self.engine.rules.checklists[str(name)].items)
        return []

    async def _missing(self, ctx: Ctx, case: Case) -> list[ChecklistItem]:
        """Checklist items of `case` without a received or accepted document (optional ones last)."""
        have = set((await ctx.session.execute(select(CaseDocument.item_key).where(
            CaseDocument.case_id == case.id, CaseDocument.status.in_(("received", "accepted"))))).scalars())
        missing = [i for i in self._checklist_items(case) if i.key not in have]
        return [i for i in missing if not i.optional] + [i for i in missing if i.optional]

    def _named_item(self, ctx: Ctx, case: Case, missing: list[ChecklistItem],
                    text: str | None = None) -> ChecklistItem | None:
        """The checklist item the message names ('ko surek keterangan waris nyo'), missing ones first."""
        readings = [text] if text else ctx.readings
        for pool in (missing, self._checklist_items(case)):
            best: tuple[int, ChecklistItem] | None = None
            for item in pool:
                for reading in readings:
                    hit = contains_phrase(reading, [item.name, *item.words])
                    if hit and (best is None or len(hit) > best[0]):
                        best = (len(hit), item)
            if best is not None:
                return best[1]
        return None

    async def _attach_documents(self, ctx: Ctx, case: Case | None, item_key: str) -> list[int]:
        ids, problems = await self.engine.collection.store_files(ctx, item_key, case.id if case else None)
        for key in dict.fromkeys(problems):
            ctx.say(key)
        return ids

    # ------------------------------------------------------------------ media

    async def _media_only(self, ctx: Ctx) -> None:
        kinds = [str(m.get("kind")) for m in ctx.turn.media]
        awaiting = None if ctx.state.get("flow") else self._awaiting(ctx)
        if awaiting is not None:
            case = await ctx.session.get(Case, awaiting["case_id"])
            if case is not None and case.status in OPEN_CASE_STATUSES:
                await self._record_reply(ctx, case, awaiting)
                return
        spoken = any(k in SPOKEN for k in kinds)
        key = "media_voice" if spoken else f"media_{kinds[0]}"
        if spoken:
            ctx.state["pending"] = {"kind": "voice_handoff"}
            ctx.say(key, choices=self._handoff_choices())
            return
        ctx.say(key)
        flow = self.engine.flow(ctx)
        if flow is not None and not ctx.state.get("pending"):
            await self.engine.reprompt(ctx, flow)

    def _handoff_choices(self) -> list[str]:
        return [self.engine.text("choice_talk_to_staff"), self.engine.text("choice_type_instead")]
