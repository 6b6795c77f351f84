"""Plays one story on a fresh database: the setup, then every step through the real pipeline (user turns,
button clicks and files, as a channel adapter delivers them) or the back office's own functions (staff
actions), checking each step's expectations. Stops at the first failing expectation."""
from __future__ import annotations

import csv
import io
import time
from dataclasses import dataclass, field
from datetime import date, datetime, time as dtime, timedelta, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.backoffice import audit
from bot.backoffice.case_actions import ActionError, change_status, review_document, slot_taken
from bot.backoffice.context import Backoffice
from bot.backoffice.notify import queue_text, render as render_template
from bot.backoffice.states import IllegalTransition
from bot.backoffice.views_inbox import _take as take_conversation
from bot.core.inbound import InboundAttachment, InboundMessage
from bot.services import Services
from bot.stories import media
from bot.stories.expect import Observation, check_step
from bot.stories.model import StaffSpec, Step, Story
from bot.stories.world import STAFF_USERNAME, World
from dialogues.engine import DialogueEngine
from storage.models import Case, CaseDocument, Conversation, Message, Pilgrim, StaffUser
from storage.registry_import import import_registry

CASE_SEEDS = 1_000_000  # seeds of earlier cases' photos, apart from those of files sent in steps
STEP_SECONDS = 20  # the story clock moves on this much between steps (a pilgrim typing)
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
TICKET_PREFIX = {"pembatalan": "PBT", "pelimpahan": "PLH", "pendaftaran": "REG"}
USER_IDS = {"webchat": "story-{n}", "telegram": "70000{n:05d}", "whatsapp": "whatsapp:+628120000{n:04d}"}


class StoryError(Exception):
    """The story cannot be played as written (e.g. a button that was never offered)."""


@dataclass
class Turn:
    """One step as it happened: what was sent and every bot/staff message that followed."""

    step: Step
    replies: list[tuple[str, list[str]]] = field(default_factory=list)
    intent: str | None = None
    sent: str | None = None  # the text actually sent (a button's full label)
    error: str | None = None  # the pipeline could not process the message


@dataclass
class StoryResult:
    story: Story
    passed: bool
    seconds: float
    turns: list[Turn] = field(default_factory=list)
    failed_step: int | None = None
    failure: str = ""

    def transcript(self) -> str:
        lines = []
        for turn in self.turns:
            intent = f"   [intent {turn.intent}]" if turn.intent else ""
            what = f"click [{turn.sent}]" if turn.step.click is not None else turn.step.describe()
            lines.append(f"  {turn.step.index:>2}. > {what}{intent}")
            for text, choices in turn.replies:
                body = text.replace("\n", "\n        ")
                lines.append(f"        {body}")
                if choices:
                    lines.append("        [" + "] [".join(choices) + "]")
        return "\n".join(lines)


def story_clock(value: Any, engine: DialogueEngine) -> datetime:
    """The story's start time (UTC). Default: the most recent Tuesday 10:00 office time that is no holiday,
    so office hours and weekdays are the same on every run. Also an ISO date-time (office time when naive)
    or 'saturday 20:00' (the most recent such moment)."""
    tz = engine.tz
    today = datetime.now(tz).date()
    if value is None:
        value = "tuesday 10:00"
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value.split()[0].lower() in WEEKDAYS:
        day_name, _, clock = value.partition(" ")
        hour, _, minute = (clock or "10:00").partition(":")
        day = today - timedelta(days=(today.weekday() - WEEKDAYS.index(day_name.lower())) % 7 or 7)
        while day in set(engine.rules.holidays) and day_name.lower() not in ("saturday", "sunday"):
            day -= timedelta(days=7)
        moment = datetime.combine(day, dtime(int(hour), int(minute or 0)))
    elif isinstance(value, date):
        moment = datetime.combine(value, dtime(10, 0))
    else:
        moment = datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment.astimezone(timezone.utc)


class Player:
    """One story's pilgrim (a user on the story's channel) and the officer acting on its cases."""

    def __init__(self, world: World, services: Services, story: Story, number: int) -> None:
        self.world = world
        self.services = services
        self.story = story
        self.user_id = USER_IDS[story.channel].format(n=number)
        self.display_name = story.setup.get("display_name")
        self.clock = story_clock(story.setup.get("now"), world.engine)
        self.conversation_id: int | None = None
        self.last_seen = 0  # id of the last message the story has read
        self.offered: list[list[str]] = []  # the buttons of each step, oldest first
        self.message_counter = 0

    # setup ------------------------------------------------------------------------------------------
    async def setup(self) -> None:
        setup = self.story.setup
        async with self.services.db.session() as session:
            if setup.get("demo_registry") is False:
                for pilgrim in (await session.execute(select(Pilgrim))).scalars().all():
                    await session.delete(pilgrim)
            if setup.get("registry"):
                report = await import_registry(session, _registry_csv(setup["registry"]), strict=True)
                if report.errors:
                    raise StoryError(f"setup.registry: {report.errors[0]}")
            conversation = Conversation(channel=self.story.channel, channel_user_id=self.user_id,
                                        display_name=self.display_name, state={},
                                        subscribed=bool(setup.get("subscribed", False)))
            session.add(conversation)
            await session.flush()
            self.conversation_id = conversation.id
            for n, spec in enumerate(setup.get("cases") or [], 1):
                owner = conversation if spec.get("owner", "self") == "self" else await self._stranger(session, n)
                await self._seed_case(session, owner, spec, n)
            await self._seed_stranger_failures(session, setup.get("strangers_failed") or {})
            await session.commit()

    async def _stranger(self, session: Any, n: int) -> Conversation:
        """Another person's conversation on the same channel (for cases owned by someone else)."""
        other = Conversation(channel=self.story.channel, channel_user_id=f"{self.user_id}-other-{n}", state={})
        session.add(other)
        await session.flush()
        return other

    async def _seed_stranger_failures(self, session: Any, failures: dict[str, Any]) -> None:
        """`strangers_failed: {subject: n}`: n failed identity checks on a porsi number or ticket in the last
        half hour, each from a different stranger's conversation and address (dialogues/throttle.py)."""
        from dialogues.throttle import Requester, record_attempt

        for subject, count in failures.items():
            for i in range(int(count)):
                other = await self._stranger(session, 1000 + i)
                record_attempt(session, self.clock - timedelta(minutes=30), Requester(other.id, f"ip:stranger-{i}"),
                               str(subject), False, nomor_porsi=str(subject) if str(subject).isdigit() else "")

    async def _seed_case(self, session: Any, conversation: Conversation, spec: dict[str, Any], n: int) -> None:
        from storage.models import Pilgrim

        service = spec["service"]
        variant = spec.get("variant")
        submitted = self.clock - timedelta(days=float(spec.get("submitted_days_ago", 3)))
        year = submitted.astimezone(self.world.engine.tz).year
        ticket = spec.get("ticket") or f"{TICKET_PREFIX.get(service, 'CASE')}-{year}-{90000 + n:05d}"
        porsi = spec.get("nomor_porsi")
        pilgrim = (await session.execute(select(Pilgrim).where(Pilgrim.nomor_porsi == porsi))
                   ).scalar_one_or_none() if porsi else None
        answers = dict(spec.get("answers") or {})
        if "_checklist" not in answers:
            answers["_checklist"] = f"{service}_{variant}" if variant else service
        case = Case(ticket=ticket, service=service, variant=variant, status=spec.get("status", "submitted"),
                    conversation_id=conversation.id, pilgrim_id=pilgrim.id if pilgrim else None,
                    nomor_porsi=porsi, applicant_name=spec.get("applicant_name"), answers=answers,
                    submitted_at=submitted, created_at=submitted, updated_at=submitted)
        session.add(case)
        await session.flush()
        for i, item_key in enumerate(spec.get("documents") or [], 1):
            stored = await self.services.files.put(media.photo(seed=CASE_SEEDS + n * 100 + i), f"{item_key}.jpg")
            session.add(CaseDocument(case_id=case.id, conversation_id=conversation.id, item_key=item_key,
                                     sha256=stored.sha256, content_type=stored.content_type, size=stored.size,
                                     status="received", created_at=submitted))

    # steps ------------------------------------------------------------------------------------------
    async def play(self, step: Step) -> Turn:
        self.clock += timedelta(seconds=STEP_SECONDS + step.after_seconds)
        turn = Turn(step)
        if step.staff is not None:
            await self._staff(step.staff)
        else:
            text = step.user or ""
            if step.click is not None:
                text = self._button(step)
            turn.sent = text
            attachments = []
            for i, spec in enumerate(step.files, 1):
                generated = media.generate(spec.kind, spec.name, seed=self.message_counter * 10 + i, pages=spec.pages)
                attachments.append(InboundAttachment(generated.filename, generated.content_type, generated.data))
            self.message_counter += 1
            message = InboundMessage(channel=self.story.channel, user_id=self.user_id, text=text,
                                     attachments=tuple(attachments), at=self.clock, display_name=self.display_name,
                                     channel_message_id=f"story-{self.message_counter}")
            result = await self.services.pipeline.handle(message, deliver=self.story.channel == "webchat")
            async with self.services.db.session() as session:
                inbound = await session.get(Message, result.message_id)
                turn.intent = inbound.intent if inbound else None
                if inbound is not None and inbound.status != "processed":
                    turn.error = f"the pipeline did not process this message (status {inbound.status}, " \
                                 f"error {inbound.error}); see the log above"
        turn.replies = await self._new_messages()
        if turn.replies:
            self.offered.append([c for _, choices in turn.replies for c in choices])
        return turn

    def _button(self, step: Step) -> str:
        """The full label of the button the pilgrim taps: exact (case-insensitive) or a unique part of it.
        The buttons on screen are those of the bot's last answer; older ones are tapped only with `stale: true`."""
        wanted = (step.click or "").strip().lower()
        current = self.offered[-1] if self.offered else []
        older = [label for buttons in self.offered for label in buttons]
        for pool, stale in ((current, False), (older, True)):
            exact = [b for b in pool if b.lower() == wanted]
            partial = sorted({b for b in pool if wanted in b.lower()})
            found = exact[:1] or (partial if len(partial) == 1 else [])
            if found:
                if stale and not step.stale:
                    raise StoryError(f"button [{step.click}] is not on the last message (add stale: true to tap "
                                     f"an old one); shown: {current}")
                return found[0]
            if len(partial) > 1:
                raise StoryError(f"button [{step.click}] matches several: {partial}")
        raise StoryError(f"button [{step.click}] was never offered; last buttons: {current}")

    async def _new_messages(self) -> list[tuple[str, list[str]]]:
        async with self.services.db.session() as session:
            rows = (await session.execute(select(Message).where(
                Message.conversation_id == self.conversation_id, Message.direction == "out",
                Message.id > self.last_seen).order_by(Message.id))).scalars().all()
            newest = (await session.execute(select(Message.id).where(
                Message.conversation_id == self.conversation_id).order_by(Message.id.desc()).limit(1))
            ).scalar_one_or_none()
        self.last_seen = max(self.last_seen, newest or 0)
        return [(m.text, list(m.choices or [])) for m in rows]

    # staff ------------------------------------------------------------------------------------------
    async def _staff(self, spec: StaffSpec) -> None:
        """Do what a logged-in officer's click does in the back office (bot/backoffice/views_*.py)."""
        if spec.action == "registry_update":
            await self._registry_update(spec.registry)
            return
        bo = self.world.backoffice(self.services)
        async with self.services.db.session() as session:
            staff = (await session.execute(select(StaffUser).where(StaffUser.username == STAFF_USERNAME))
                     ).scalar_one()
            actor = f"staff:{staff.username}"
            conversation = await session.get(Conversation, self.conversation_id)
            assert conversation is not None
            if spec.action in ("message", "take_over"):
                take_conversation(conversation, staff, datetime.now(timezone.utc))
                if spec.action == "take_over":
                    queue_text(session, conversation, render_template(self.services.engine, "bo_handoff_taken",
                                                                      staff_name=staff.display_name), staff_id=staff.id)
                else:
                    queue_text(session, conversation, spec.text, staff_id=staff.id)
                audit.record(session, actor, f"conversation.{'reply' if spec.action == 'message' else spec.action}",
                             conversation_id=conversation.id)
            elif spec.action == "return_to_bot":
                conversation.mode, conversation.handoff_staff_id, conversation.handoff_since = "bot", None, None
                queue_text(session, conversation, render_template(self.services.engine, "bo_handoff_returned"),
                           staff_id=staff.id)
                audit.record(session, actor, "conversation.return_to_bot", conversation_id=conversation.id)
            else:
                case = await self._case(session, spec.ticket)
                try:
                    if spec.action in ("accept_document", "reject_document"):
                        doc = await self._document(session, case, spec.item or "")
                        await review_document(bo, session, case, doc, spec.action == "accept_document", spec.text,
                                              actor, staff.id)
                    else:
                        slot = await self._slot(session, bo, spec.slot) if spec.action == "invite" else None
                        await change_status(bo, session, case, spec.action, actor, staff.id, spec.text, slot,
                                            now=self.clock)
                except (ActionError, IllegalTransition) as exc:
                    raise StoryError(f"staff {spec.action} refused by the back office: {exc}") from None
            await session.commit()

    async def _registry_update(self, change: dict[str, Any]) -> None:
        """An admin imports the registry with one porsi's row changed and confirms the personal updates; the
        service's update sender hands them to the outbox (bot/updates), as `hajibot serve` does."""
        from bot.updates import service as updates
        from bot.updates.sender import UpdateSender

        columns = ("nomor_porsi", "nama", "nik", "tanggal_lahir", "jenis_kelamin", "kab_kota", "provinsi", "status",
                   "estimasi_tahun", "bank", "tanggal_daftar", "kecamatan")
        async with self.services.db.session() as session:
            rows = [{c: getattr(p, c) for c in columns}
                    for p in (await session.execute(select(Pilgrim).order_by(Pilgrim.id))).scalars()]
        target = [r for r in rows if r["nomor_porsi"] == str(change["porsi"])]
        if not target:
            raise StoryError(f"staff registry_update: porsi {change['porsi']} is not in the registry")
        if "status" in change:
            target[0]["status"] = str(change["status"])
        if "estimasi" in change:
            target[0]["estimasi_tahun"] = change["estimasi"]
        config = self.services.settings.config
        channels = sorted(set(self.services.channels) | {self.story.channel})  # stories read the outbox rows
        async with self.services.db.session() as session:
            report = await import_registry(session, _registry_csv(rows), actor="staff:admin", source="backoffice")
        if report.import_id is not None and report.updates:
            async with self.services.db.session() as session:
                await updates.confirm(session, report.import_id, "staff:admin", config.broadcast, admin=True,
                                      expected_total=None, channels=channels)
        sender = UpdateSender(self.services.db, self.services.engine, channels, config.updates,
                              config.broadcast, clock=lambda: self.clock)
        await sender.step()

    async def _case(self, session: AsyncSession, ticket: str | None) -> Case:
        query = select(Case).where(Case.ticket == ticket) if ticket else \
            select(Case).where(Case.conversation_id == self.conversation_id).order_by(Case.id.desc()).limit(1)
        case = (await session.execute(query)).scalars().first()
        if case is None:
            raise StoryError(f"staff action: no case {ticket or 'for this conversation'}")
        return case

    @staticmethod
    async def _document(session: AsyncSession, case: Case, item_key: str) -> CaseDocument:
        doc = (await session.execute(select(CaseDocument).where(
            CaseDocument.case_id == case.id, CaseDocument.item_key == item_key, CaseDocument.status != "replaced")
            .order_by(CaseDocument.id.desc()))).scalars().first()
        if doc is None:
            raise StoryError(f"staff document action: case {case.ticket} has no document '{item_key}'")
        return doc

    async def _slot(self, session: AsyncSession, bo: Backoffice, n: int) -> datetime:
        free = [s for s in bo.rules.upcoming_slots(self.clock)
                if await slot_taken(session, s) < bo.rules.slot_capacity]
        if len(free) < n:
            raise StoryError(f"staff invite: only {len(free)} free appointment slots")
        return free[n - 1]


def _registry_csv(rows: list[dict[str, Any]]) -> bytes:
    columns = ["nomor_porsi", "nama", "nik", "tanggal_lahir", "jenis_kelamin", "kab_kota", "provinsi", "status",
               "estimasi_tahun", "bank", "tanggal_daftar", "kecamatan"]
    defaults = {"jenis_kelamin": "L", "kab_kota": "Kota Bukittinggi", "provinsi": "Sumatera Barat",
                "status": "menunggu", "kecamatan": "Guguk Panjang"}
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns)
    writer.writeheader()
    for row in rows:
        writer.writerow({c: str(row.get(c, defaults.get(c, "")) or "") for c in columns})
    return out.getvalue().encode("utf-8")


async def run_story(world: World, story: Story, number: int = 1) -> StoryResult:
    """Play `story` on a fresh database; the result says which expectation failed first, if any."""
    started = time.perf_counter()
    url = await world.fresh_database()
    services = world.services(url)
    result = StoryResult(story, passed=False, seconds=0.0)
    player = Player(world, services, story, number)
    try:
        await player.setup()
        for step in story.steps:
            try:
                turn = await player.play(step)
            except StoryError as exc:
                result.failed_step, result.failure = step.index, str(exc)
                return result
            result.turns.append(turn)
            if turn.error:
                result.failed_step, result.failure = step.index, turn.error
                return result
            observation = Observation(services, player.conversation_id or 0, turn, world.backoffice(services))
            failure = await check_step(step, observation)
            if failure:
                result.failed_step, result.failure = step.index, failure
                return result
        result.passed = True
        return result
    except StoryError as exc:
        result.failure = f"setup: {exc}"
        return result
    finally:
        await services.db.dispose()
        world.discard(url)
        result.seconds = time.perf_counter() - started
