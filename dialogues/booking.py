"""Changing or cancelling a booked office visit by chat ("eh ganti kamis siang aja deh, jumat sy ada acara").

A day named in a clause with a refusal ("jumat sy ada acara", "jangan senin") is never offered; the wanted day
and part of the day ("kamis siang", "senin pagi") narrow the free slots. One slot: asked as yes/no; several:
a numbered choice. Booking a new slot cancels the case's other booking (one active booking per case). Every
change is confirmed with how to change it again; the back office gets a `case.appointment_changed` event.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import select

from dialogues import actions
from dialogues.answers import day_part_minutes, read_ordinal
from dialogues.context import Ctx
from dialogues.parsing import contains_phrase, normalize, pick_option
from storage.models import Appointment, AuditLog, Case

PUNCTUATION = r"[,.;!?\n]+"


class Booking:
    """Part of DialogueEngine (a mixin)."""

    BOOKING_PENDING = ("booking_pick", "booking_cancel")

    async def _booking_request(self, ctx: Ctx) -> bool:
        """Outside a form: a request to change or cancel the pilgrim's booked visit."""
        if not ctx.text or ctx.turn.files:
            return False
        words = self.rules.conversation
        cancel = any(contains_phrase(t, words.cancel_booking) for t in ctx.readings)
        change = any(contains_phrase(t, words.reschedule) for t in ctx.readings) and (
            bool(self._days_named(ctx.text)) or any(contains_phrase(t, words.booking) for t in ctx.readings))
        if not (cancel or change):
            return False
        appointment = await self._active_appointment(ctx, None)
        if appointment is None and change and not cancel:
            appointment = await self._recently_cancelled(ctx)  # "ketik GANTI JADWAL ..." after a cancellation
        if appointment is None:
            return False
        await self._booking_change(ctx, appointment, cancel)
        return True

    async def _recently_cancelled(self, ctx: Ctx) -> Appointment | None:
        """The pilgrim's own cancellation of the last day, for an appointment not yet past."""
        since = ctx.now - timedelta(hours=self.rules.conversation.resume_aborted_hours)
        entry = (await ctx.session.execute(select(AuditLog).where(
            AuditLog.conversation_id == ctx.conv.id, AuditLog.action == "appointment_cancelled",
            AuditLog.at >= since).order_by(AuditLog.id.desc()).limit(1))).scalar_one_or_none()
        if entry is None:
            return None
        query = select(Appointment).where(Appointment.conversation_id == ctx.conv.id,
                                          Appointment.status == "cancelled", Appointment.slot_start >= ctx.now)
        if entry.case_id is not None:
            query = query.where(Appointment.case_id == entry.case_id)
        return (await ctx.session.execute(query.order_by(Appointment.id.desc()).limit(1))).scalar_one_or_none()

    async def _invitation_reply(self, ctx: Ctx, case: Case) -> None:
        """A reply to an invitation that asks for another day, or cancels: handled as a booking change."""
        words = self.rules.conversation
        cancel = any(contains_phrase(t, words.cancel_booking) for t in ctx.readings)
        change = any(contains_phrase(t, words.reschedule) for t in ctx.readings) or bool(self._days_named(ctx.text))
        if not (cancel or change):
            return
        appointment = await self._active_appointment(ctx, case.id)
        if appointment is None and change and not cancel:
            appointment = await self._recently_cancelled(ctx)
        if appointment is not None:
            await self._booking_change(ctx, appointment, cancel)

    async def _active_appointment(self, ctx: Ctx, case_id: int | None) -> Appointment | None:
        query = select(Appointment).where(Appointment.status == "booked", Appointment.slot_start >= ctx.now)
        query = query.where(Appointment.case_id == case_id) if case_id is not None else \
            query.where(Appointment.conversation_id == ctx.conv.id)
        return (await ctx.session.execute(query.order_by(Appointment.slot_start).limit(1))).scalar_one_or_none()

    async def _booking_change(self, ctx: Ctx, appointment: Appointment, cancel: bool) -> None:
        when = self.when_label(appointment.slot_start, "slot_label")
        if cancel:
            ctx.state["pending"] = {"kind": "booking_cancel", "appointment_id": appointment.id}
            ctx.say("booking_cancel_confirm", when=when, choices=self._yes_no())
            return
        free = [s for s in await actions.free_slots(self, ctx) if s != appointment.slot_start.astimezone(timezone.utc)]
        wanted, refused, parts = self._preference(ctx.text)
        allowed = [s for s in free if self._weekday(s) not in refused]
        matching = [s for s in allowed if (not wanted or self._weekday(s) in wanted) and
                    (not parts or any(lo <= self._minute_of_day(s) < hi for lo, hi in parts))]
        offer = matching or allowed
        if not offer:
            ctx.say("booking_no_slots", when=when)
            return
        offer = offer[:self.rules.appointments.offer_count]
        if not matching and (wanted or parts):
            ctx.say("booking_wish_full")
        options = [actions.slot_option(self, s) for s in offer]
        ctx.state["pending"] = {"kind": "booking_pick", "appointment_id": appointment.id, "options": options}
        booked = appointment.status == "booked"
        if len(options) == 1:
            ctx.say("booking_confirm_one" if booked else "booking_confirm_one_new", when=when,
                    new_when=options[0]["label"], choices=self._yes_no())
        else:
            ctx.say("booking_options" if booked else "booking_options_new", when=when,
                    choices=[o["label"] for o in options])

    async def _booking_pending(self, ctx: Ctx, pending: dict[str, Any]) -> bool:
        appointment = await ctx.session.get(Appointment, int(pending.get("appointment_id") or 0))
        ctx.state.pop("pending", None)
        if appointment is None or (appointment.status != "booked" and pending.get("kind") == "booking_cancel"):
            return False
        if pending.get("kind") == "booking_cancel":
            answer = self._answer_yes_no(ctx)
            if answer is None:
                return False
            if answer:
                await self._cancel_booking(ctx, appointment)
            else:
                ctx.say("booking_kept", when=self.when_label(appointment.slot_start, "slot_label"))
            return True
        options = pending.get("options") or []
        if len(options) == 1:
            answer = self._answer_yes_no(ctx)
            if answer is False and not self._days_named(ctx.text):
                if appointment.status == "booked":
                    ctx.say("booking_kept", when=self.when_label(appointment.slot_start, "slot_label"))
                else:
                    ctx.say("handoff_declined")
                return True
            idx = 0 if answer else None
        else:
            idx = pick_option(ctx.text, [o["label"] for o in options], [list(o.get("words", [])) for o in options])
            idx = self._ordinal(ctx.text, len(options)) if idx is None else idx
        if idx is None:
            if self._days_named(ctx.text) or any(contains_phrase(t, list(self.lexicon.day_parts))
                                                 for t in ctx.readings):
                await self._booking_change(ctx, appointment, cancel=False)  # another wish: offer again
                return True
            return False
        await self._rebook(ctx, appointment, datetime.fromisoformat(options[idx]["value"]))
        return True

    async def _rebook(self, ctx: Ctx, appointment: Appointment, start: datetime) -> None:
        old = appointment.slot_start
        new = await actions.book_slot(self, ctx, start.astimezone(timezone.utc), appointment.case_id,
                                      appointment.purpose)
        if new is None:
            ctx.say("booking_slot_full", new_when=self.when_label(start, "slot_label"))
            await self._booking_change(ctx, appointment, cancel=False)
            return
        if appointment.case_id is None and appointment.status == "booked":
            appointment.status = "cancelled"
        self._booking_audit(ctx, appointment, "appointment_changed", old, new.slot_start)
        ctx.say("booking_changed", new_when=self.when_label(new.slot_start, "slot_label"))

    async def _cancel_booking(self, ctx: Ctx, appointment: Appointment) -> None:
        appointment.status = "cancelled"
        self._booking_audit(ctx, appointment, "appointment_cancelled", appointment.slot_start, None)
        ctx.say("booking_cancelled", when=self.when_label(appointment.slot_start, "slot_label"))

    def _booking_audit(self, ctx: Ctx, appointment: Appointment, action: str, old: datetime,
                       new: datetime | None) -> None:
        detail = {"from": old.isoformat(), "to": new.isoformat() if new else None, "by": "pilgrim"}
        ctx.session.add(AuditLog(at=ctx.now, actor="bot", action=action, case_id=appointment.case_id,
                                 conversation_id=ctx.conv.id, detail=detail))
        if appointment.case_id is not None:
            ctx.turn.events.append(("case.appointment_changed", appointment.case_id, detail))

    # ------------------------------------------------------------------ reading the wish

    def _ordinal(self, text: str, count: int) -> int | None:
        """'yg pertama', 'yang kedua', 'yg terakhir' -> 0, 1, count - 1 (rules/language.yml `ordinals`)."""
        return read_ordinal(normalize(text).split(), self.lexicon, count)

    def _weekday(self, start: datetime) -> int:
        return start.astimezone(self.tz).weekday()

    def _minute_of_day(self, start: datetime) -> int:
        local = start.astimezone(self.tz)
        return local.hour * 60 + local.minute

    def _days_named(self, text: str) -> list[int]:
        names = [normalize(n) for n in self.lexicon.weekday_names]
        return [i for i, name in enumerate(names) if contains_phrase(text, [name])]

    def _preference(self, text: str) -> tuple[set[int], set[int], list[tuple[int, int]]]:
        """Wanted days, refused days and wanted parts of the day, clause by clause."""
        words = self.rules.conversation
        wanted: set[int] = set()
        refused: set[int] = set()
        parts: list[tuple[int, int]] = []
        breaks = "|".join(re.escape(w) for w in words.clause_breaks)
        for clause in re.split(rf"{PUNCTUATION}|\b(?:{breaks})\b", text.lower()):
            if not clause or not normalize(clause):
                continue
            days = self._days_named(clause)
            if contains_phrase(clause, words.refuse):
                refused.update(days)
                continue
            wanted.update(days)
            parts += [day_part_minutes(self.lexicon, name) for name in self.lexicon.day_parts  # type: ignore[misc]
                      if contains_phrase(clause, [name])]
        return wanted - refused, refused, parts
