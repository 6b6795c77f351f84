"""The Survei Kepuasan Masyarakat (SKM, PermenPANRB 14/2017) in chat, kept apart from the flows.

When staff close a case, `ChatSurvey.offer()` (called from bot/backoffice/case_actions.py) records the survey
of that case (at most one per case: unique `skm_surveys.case_id`) and offers it to the case's conversation with
"Mulai survei" / "Nanti saja" buttons — unless the chat opted out of announcements or is blocked. The survey's
state lives under its own key `skm` of conversation.state, which the dialogue engine leaves alone, so a flow in
progress is not disturbed: while the survey is only *offered*, a message that is not "mulai survei" / "nanti saja"
goes to the engine as usual (and in a flow, a bare "ya"/"1" is the flow's, not the survey's).

`ChatSurvey.step()` (called by bot/core/pipeline.py before the engine) handles the pilgrim's answers once the survey
has started: a number 1–4, the element's label or an everyday word ("sesuai bgt", "mantap") is the score;
"lewati" skips one element, "nanti saja" stops (answers given so far are kept). A message that is clearly not an
answer (a question, a long text, or a second miss) stops the survey and goes to the engine.

Questions, labels and words are office data: dialogues/rules/skm.yml and dialogues/responses/skm.yml.
"""
from __future__ import annotations

import copy
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dialogues.parsing import contains_phrase, is_only, normalize, parse_yes_no, pick_option
from dialogues.replies import Reply
from dialogues.survey_rules import SkmElement, SkmRules
from dialogues.validators import looks_like_question
from storage.broadcast_models import BroadcastOptout
from storage.message_path import ConversationRow
from storage.models import Case, Conversation, SkmAnswer, SkmSurvey

log = logging.getLogger(__name__)

STATE_KEY = "skm"
MAX_ANSWER_WORDS = 6  # a longer message is something else, not a survey answer
Chat = Conversation | ConversationRow  # the back office passes ORM objects; the pipeline its plain row
_NUMBER = re.compile(r"(?:no|nomor|pilih|pilihan|nilai)?\s*(\d{1,2})\s*[.)]?")


@dataclass
class SurveyTurn:
    """What the survey did with one inbound message; `consumed` False: the engine handles it as well."""

    replies: list[Reply] = field(default_factory=list)
    consumed: bool = False


class ChatSurvey:
    """Offers and runs the SKM for one dialogue engine's rules and texts."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        rules = getattr(engine, "rules", None)
        self.rules: SkmRules | None = getattr(rules, "skm", None)
        self.lexicon = getattr(rules, "language", None)

    @property
    def enabled(self) -> bool:
        return self.rules is not None and self.rules.enabled

    # ------------------------------------------------------------------ offer (staff closed the case)

    async def offer(self, session: AsyncSession, case: Case, now: datetime) -> list[Reply]:
        """Record and offer the survey of a just-closed case; [] when not offered. The caller queues the
        replies to the case's conversation and commits."""
        rules = self.rules
        if rules is None or not rules.enabled or case.service not in rules.services \
                or case.status not in rules.close_statuses or not case.conversation_id:
            return []
        conversation = await self._locked_conversation(session, case.conversation_id)
        if conversation is None or conversation.blocked or await opted_out(session, conversation):
            return []
        if (await session.execute(select(SkmSurvey.id).where(SkmSurvey.case_id == case.id))).first():
            return []  # at most once per case
        current = (conversation.state or {}).get(STATE_KEY)
        if current and current.get("stage") == "asking" and not self._lapsed(current, now):
            log.info("skm: conversation=%s is answering another survey; case=%s not surveyed",
                     conversation.id, case.id)
            return []
        if current:
            await self._finish(session, current, "lapsed", now)
        survey = SkmSurvey(case_id=case.id, conversation_id=conversation.id, service=case.service,
                           status="offered", offered_at=now)
        session.add(survey)
        await session.flush()
        self._save(conversation, {"survey_id": survey.id, "case_id": case.id, "ticket": case.ticket,
                                  "service": case.service, "stage": "offered", "index": 0, "misses": 0,
                                  "at": now.isoformat()})
        return [Reply(self._text("skm_offer", ticket=case.ticket, total=len(rules.elements)),
                      choices=[self._text("skm_choice_start"), self._text("skm_choice_decline")])]

    async def _locked_conversation(self, session: AsyncSession, conversation_id: int) -> Conversation | None:
        """The conversation, re-read under the pipeline's row lock (PostgreSQL) so its state is current
        (pending changes of this session are flushed first, so none is lost by the re-read)."""
        await session.flush()
        query = select(Conversation).where(Conversation.id == conversation_id) \
            .execution_options(populate_existing=True)
        if session.bind is not None and session.bind.dialect.name == "postgresql":
            query = query.with_for_update()
        return (await session.execute(query)).scalar_one_or_none()

    # ------------------------------------------------------------------ the pilgrim's messages

    async def step(self, session: AsyncSession, conversation: Chat, text: str, has_files: bool,
                   now: datetime) -> SurveyTurn:
        """Handle one inbound message if it belongs to the survey (called by the pipeline before the engine)."""
        state = (conversation.state or {}).get(STATE_KEY)
        if not state or self.rules is None:
            return SurveyTurn()
        if has_files and not text.strip():
            return SurveyTurn()
        if self._lapsed(state, now) or await opted_out(session, conversation):  # lapsed, or STOP meanwhile
            await self._finish(session, state, "lapsed" if self._lapsed(state, now) else "stopped", now)
            self._save(conversation, None)
            return SurveyTurn()
        if state.get("stage") == "offered":
            return await self._offered(session, conversation, state, text, now, self.engine.in_progress(conversation))
        return await self._asking(session, conversation, state, text, now)

    async def _offered(self, session: AsyncSession, conversation: Chat, state: dict[str, Any], text: str,
                       now: datetime, in_flow: bool) -> SurveyTurn:
        rules = self.rules
        assert rules is not None
        norm = normalize(text)
        start_label, decline_label = self._text("skm_choice_start"), self._text("skm_choice_decline")
        start, later = is_only(text, [start_label]), is_only(text, [decline_label])
        if not in_flow and not (start or later) and 0 < len(norm.split()) <= MAX_ANSWER_WORDS:
            # outside a flow the offer is the open question: everyday words and the buttons' numbers count
            later = contains_phrase(text, rules.later_words) is not None
            start = not later and is_only(text, rules.start_words)
            if not (start or later):
                answer = True if norm == "1" else False if norm == "2" else \
                    parse_yes_no(text, self.lexicon) if self.lexicon is not None else None
                start, later = answer is True, answer is False
        if later:
            await self._finish(session, state, "declined", now)
            self._save(conversation, None)
            return SurveyTurn([Reply(self._text("skm_declined"))], consumed=True)
        if not start:
            return SurveyTurn()
        state = {**state, "stage": "asking", "index": 0, "misses": 0, "at": now.isoformat()}
        survey = await session.get(SkmSurvey, state["survey_id"])
        if survey is not None:
            survey.status = "started"
        self._save(conversation, state)
        return SurveyTurn([self._question(state)], consumed=True)

    async def _asking(self, session: AsyncSession, conversation: Chat, state: dict[str, Any], text: str,
                      now: datetime) -> SurveyTurn:
        rules = self.rules
        assert rules is not None
        index = int(state.get("index", 0))
        if index >= len(rules.elements):
            return await self._complete(session, conversation, state, now)
        element = rules.elements[index]
        norm = normalize(text)
        if norm == "6" or contains_phrase(text, rules.later_words) or norm == normalize(self._text("skm_choice_later")):
            await self._finish(session, state, "stopped", now)
            self._save(conversation, None)
            return SurveyTurn([Reply(self._text("skm_stopped"))], consumed=True)
        if norm == "5" or is_only(text, rules.skip_words) or norm == normalize(self._text("skm_choice_skip")):
            return await self._next(session, conversation, state, now)
        score = self.score(text, element)
        if score is not None:
            session.add(SkmAnswer(survey_id=state["survey_id"], case_id=state["case_id"], service=state["service"],
                                  element=element.key, score=score, answered_at=now))
            return await self._next(session, conversation, state, now)
        too_long = len(norm.split()) > MAX_ANSWER_WORDS or \
            (self.lexicon is not None and looks_like_question(text, self.lexicon))
        if too_long or int(state.get("misses", 0)) >= 1:
            await self._finish(session, state, "stopped", now)
            self._save(conversation, None)
            return SurveyTurn([Reply(self._text("skm_stopped"))], consumed=False)
        self._save(conversation, {**state, "misses": int(state.get("misses", 0)) + 1})
        labels = ", ".join(f"{n} = {label}" for n, label in enumerate(element.labels, start=1))
        return SurveyTurn([Reply(self._text("skm_not_understood", labels=labels), choices=self._choices(element))],
                          consumed=True)

    def score(self, text: str, element: SkmElement) -> int | None:
        """The score 1..4 of an answer: its number, the element's label, or an everyday word for a score."""
        rules = self.rules
        assert rules is not None
        match = _NUMBER.fullmatch(normalize(text))
        if match:
            number = int(match.group(1))
            return number if 1 <= number <= 4 else None
        words = [list(rules.score_words.get(n, [])) for n in range(1, 5)]
        picked = pick_option(text, list(element.labels), words)
        return picked + 1 if picked is not None else None

    async def _next(self, session: AsyncSession, conversation: Chat, state: dict[str, Any],
                    now: datetime) -> SurveyTurn:
        assert self.rules is not None
        state = {**state, "index": int(state.get("index", 0)) + 1, "misses": 0, "at": now.isoformat()}
        if state["index"] >= len(self.rules.elements):
            return await self._complete(session, conversation, state, now)
        self._save(conversation, state)
        return SurveyTurn([self._question(state)], consumed=True)

    async def _complete(self, session: AsyncSession, conversation: Chat, state: dict[str, Any],
                        now: datetime) -> SurveyTurn:
        await self._finish(session, state, "completed", now)
        self._save(conversation, None)
        return SurveyTurn([Reply(self._text("skm_thanks", ticket=state.get("ticket", "")))], consumed=True)

    # ------------------------------------------------------------------ helpers

    def _question(self, state: dict[str, Any]) -> Reply:
        assert self.rules is not None
        index = int(state["index"])
        element = self.rules.elements[index]
        text = self._text("skm_question", number=index + 1, total=len(self.rules.elements), name=element.name,
                          question=element.question)
        return Reply(text, choices=self._choices(element))

    def _choices(self, element: SkmElement) -> list[str]:
        return [*element.labels, self._text("skm_choice_skip"), self._text("skm_choice_later")]

    def _lapsed(self, state: dict[str, Any], now: datetime) -> bool:
        assert self.rules is not None
        try:
            since = datetime.fromisoformat(str(state.get("at")))
        except ValueError:
            return True
        return now - since > timedelta(days=self.rules.offer_valid_days)

    async def _finish(self, session: AsyncSession, state: dict[str, Any], status: str, now: datetime) -> None:
        survey = await session.get(SkmSurvey, state.get("survey_id"))
        if survey is not None and survey.finished_at is None:
            survey.status = status
            survey.finished_at = now

    @staticmethod
    def _save(conversation: Chat, survey_state: dict[str, Any] | None) -> None:
        state = copy.deepcopy(dict(conversation.state or {}))
        if survey_state is None:
            state.pop(STATE_KEY, None)
        else:
            state[STATE_KEY] = survey_state
        conversation.state = state

    def _text(self, key: str, **values: Any) -> str:
        if hasattr(self.engine, "render"):
            return str(self.engine.render(key, **values))
        return str(self.engine.text(key, **values))


async def opted_out(session: AsyncSession, conversation: Chat) -> bool:
    """The chat asked for no announcements: an opt-out newer than its last subscribe, or an unsubscribe after
    a subscribe (the same rule as bot/broadcast/audience.py `opted_out`)."""
    optout_at = (await session.execute(select(BroadcastOptout.at).where(
        BroadcastOptout.conversation_id == conversation.id))).scalar_one_or_none()
    if optout_at is not None and (conversation.subscribed_at is None or optout_at > conversation.subscribed_at):
        return True
    return not conversation.subscribed and conversation.subscribed_at is not None
