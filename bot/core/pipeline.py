"""The one path every message takes. Read this file to follow a message end to end.

    channel adapter -> InboundMessage
      1. receive(): save attachments in the file store, insert the inbound row (unique per channel
         message id -> a redelivery is a no-op) and commit: the message is now durable. A full disk
         stores the message without the file and the user is told (step 4).
      2. process(): lock the conversation, then for each stored-but-unprocessed inbound message in order:
      3.   NLU parse of the text (truncated for classification only)
      4.   dialogue step on the stored conversation state (may read/write cases, documents ...)
      5.   store state + outbound messages + mark the inbound processed, in one transaction
      6. the outbox (bot/core/outbox.py) sends pending outbound messages through the channel's sender;
         pull channels (web chat, console) return them to the caller instead.

    handle() does 1-5 in ONE transaction for a text message to a conversation nobody is processing (the usual
    case): insert, step, replies, commit, answer (_handle_at_once). Anything else - attachments, a conversation
    busy in this process, older messages of it still waiting, a redelivery, a failing step - takes the general
    path above. Either way the reply leaves only after the commit that stored the message.

    On SQLite, messages handled at once while others are in flight share a commit (bot/core/group_commit.py):
    each one's transaction is a savepoint in the group's one transaction (up to 16), committed once the others
    ready to run had their turn; each is answered after that commit (a failed one fails them all). The
    conversation lock is released before it: a next message of the conversation joins the same group (same
    connection, so it sees the state) or a later one; any other writer of the pipeline commits the group first.

The statements are in storage/message_path.py (Core, compiled once per dialect and run on the DBAPI connection by
storage/dbapi_sql.py; no ORM objects): the conversation is read once per message into a plain row, the dialogue
step changes its attributes, and one UPDATE writes the changed columns back. The usual message is: SELECT the
conversation (locked) + INSERT the inbound row (which also says whether older messages of the conversation wait),
the step's own queries, then UPDATE the inbound row, INSERT the replies, UPDATE the conversation, COMMIT.

Several processes may share one PostgreSQL database. The conversation row lock (SELECT ... FOR UPDATE)
is the cross-process lock: it is taken while inserting an inbound row (so ids within a conversation follow
commit order) and while processing, and each pass processes the OLDEST unprocessed inbound row. So a
message received by process B while A is busy with the conversation is handled by whichever process gets
the lock next, in id order, exactly once. Messages left unprocessed (crash, database outage) are picked up
by `recover()` at start-up and by the periodic sweep (bot/ops.py).

SQLite has one writer at a time; on SQLite (one process) the pipeline's write transactions queue on an asyncio
lock (the group commit's), and the driver (storage/sqlite_driver.py) runs statements inline on the event loop,
waiting for a lock held by another process with asyncio sleeps. The NLU parse of a message and the checks of
its document files happen before the conversation is locked (they depend only on the text and the files), so
the lock is held for the dialogue step only.
"""
from __future__ import annotations

import errno
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core import optout
from bot.core.conversation_lock import ConversationLocks
from bot.core.group_commit import GroupCommit
from bot.core.inbound import InboundMessage
from bot.core.media import DOCUMENT, attachment_kind, is_document, media_of, share_json
from bot.core.ops_http import is_database_down
from bot.core import metrics
from bot.core.privacy_log import conversation_context, mask_user_id
from bot.core.texts import system_text
from dialogues.engine import DialogueEngine
from dialogues.replies import Reply
from dialogues.survey import ChatSurvey
from dialogues.turn import Turn
from nlu.backend import NluBackend
from storage.db import Database
from storage.files import FileStore, StoredFile
from storage.optouts import record_optout
from storage import message_path as rows
from storage.message_path import ConversationRow, Inbound, MessageRow
from storage.models import Case, Conversation, Message

log = logging.getLogger(__name__)

# Built once: building a statement and its cache key costs ~0.1 ms each time. The per-message reads and
# writes are in storage/message_path.py (Core statements and plain rows: no ORM objects on the message path).
_CONVERSATION_ID_OF_USER = select(Conversation.id).where(Conversation.channel == bindparam("channel"),
                                                         Conversation.channel_user_id == bindparam("user_id"))
_CONVERSATION_ID_OF_USER_LOCKED = _CONVERSATION_ID_OF_USER.with_for_update()

MAX_STORED_TEXT = 16_000_000  # characters; above the request size limit, so in practice stored whole
# What the opt-out check and the dialogue's phrase matching see of a message (channels refuse longer text
# with a polite answer; this bounds the work per message, whatever a channel let through)
MAX_DIALOGUE_TEXT = 4096
DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


@dataclass
class ReceiveResult:
    message_id: int
    conversation_id: int
    duplicate: bool
    attachments: list[dict[str, Any]] = field(default_factory=list)  # as stored on the inbound row


@dataclass
class HandleResult:
    message_id: int
    conversation_id: int
    duplicate: bool
    replies: list[MessageRow]  # the stored reply rows: immutable, the columns of `Message` as attributes


@dataclass
class StepResult:
    """What the dialogue step made of one inbound message: the replies and the intent stored on the message."""

    replies: list[Reply]
    intent: str | None = None
    confidence: float | None = None


class Pipeline:
    def __init__(self, db: Database, files: FileStore, nlu: NluBackend, engine: DialogueEngine,
                 max_upload_bytes: int, nlu_max_chars: int, on_outbound: Callable[[str], None] | None = None) -> None:
        self.db = db
        self.files = files
        self.nlu = nlu
        self.engine = engine
        self.max_upload_bytes = max_upload_bytes
        self.nlu_max_chars = nlu_max_chars
        self.on_outbound = on_outbound
        # set by the back office: queues a webhook event about a case in the caller's transaction
        self.case_events: Callable[..., None] | None = None
        self.survey = ChatSurvey(engine)  # satisfaction survey after a closed case (its own state key)
        self.locks = ConversationLocks()
        self._sqlite_writes = GroupCommit(db) if db.is_sqlite else None  # the writer lock, the group commit
        self._handling = 0  # handle() calls in progress: a message alone in flight needs no group commit
        self._parsed: dict[int, dict[str, Any]] = {}  # NLU results computed before the lock, by message id
        self._checked: dict[int, dict[tuple[str, str], Any]] = {}  # document checks done before the lock

    @asynccontextmanager
    async def _writer(self) -> AsyncIterator[None]:
        """On SQLite: one write transaction at a time in this process (see the module docstring)."""
        if self._sqlite_writes is None:
            yield
            return
        async with self._sqlite_writes.exclusive():
            yield

    def _at_once_session(self) -> AbstractAsyncContextManager[AsyncSession]:
        """The session of a message handled at once. SQLite: a member of the group commit (its commit releases
        its savepoint; it leaves after the group's commit), unless no other message is in flight; PostgreSQL: a
        session of its own."""
        if self._sqlite_writes is None:
            return self.db.session()
        return self._sqlite_writes.member(alone=self._handling <= 1)

    # 1. durable inbox -------------------------------------------------------------------------
    async def receive(self, msg: InboundMessage) -> ReceiveResult:
        """Store the inbound message (deduplicated). After this returns the message is safe.

        Attachments are saved first (content-addressed: a redelivered file is not written twice), then one
        transaction finds/creates the conversation (row-locked on PostgreSQL, so ids within a conversation
        follow commit order) and inserts the row; a redelivery violates the unique channel message id."""
        attachments = await self._store_attachments(msg)
        async with self._writer(), self.db.session() as session:
            conversation_id = await self._conversation_for(session, msg)
            inserted = await session.run_sync(rows.insert_inbound,
                                              {**_inbound_values(msg, attachments), "conversation_id": conversation_id})
            if inserted is not None:
                await session.commit()
                metrics.MESSAGES_IN.labels(msg.channel).inc()
                return ReceiveResult(inserted.inbound.id, conversation_id, duplicate=False, attachments=attachments)
        existing = await self._find_inbound(msg.channel, msg.channel_message_id or "")
        if existing is None:
            raise RuntimeError("inbound insert violated a constraint, but no stored message has its id")
        metrics.DUPLICATES.labels(msg.channel).inc()
        return ReceiveResult(existing.id, existing.conversation_id, duplicate=True)

    async def handle(self, msg: InboundMessage, deliver: bool = False) -> HandleResult:
        """Receive and process one message; return the replies to it (for pull channels).

        `deliver=True` (a pull channel hands the replies to the user right away): the replies are stored as
        sent, in the transaction that creates them, instead of pending plus a mark_delivered() afterwards."""
        self._handling += 1
        try:
            return await self._handle(msg, deliver)
        finally:
            self._handling -= 1

    async def _handle(self, msg: InboundMessage, deliver: bool) -> HandleResult:
        parse = await self._early_parse(msg)
        received = None
        if not msg.attachments and not msg.shares:
            at_once = await self._handle_at_once(msg, parse, deliver)
            if isinstance(at_once, HandleResult):
                return at_once
            received = at_once
        if received is None:
            received = await self.receive(msg)
        if parse is not None and not received.duplicate and len(self._parsed) < 10_000:
            self._parsed[received.message_id] = parse
        stored = _stored_files(received.attachments)
        if stored and len(self._checked) < 10_000:
            try:
                self._checked[received.message_id] = await self.engine.check_files(self.files, stored)
            except Exception as exc:  # checked again in the dialogue step (and handled there)
                metrics.SUPPRESSED_ERRORS.labels("pipeline_early_file_check").inc()
                log.warning("early document check failed message=%s (%s); checking again in the dialogue step",
                            received.message_id, type(exc).__name__)
        try:
            replies = (await self._process_all(received.conversation_id,
                                               received.message_id if deliver else None)).get(received.message_id)
        finally:
            self._parsed.pop(received.message_id, None)
            self._checked.pop(received.message_id, None)
        if replies is None:  # processed earlier, by another request or process (or it failed)
            async with self.db.session() as session:
                replies = await session.run_sync(rows.replies_to, received.message_id)
            if deliver:
                await self.mark_delivered([m.id for m in replies if m.status == "pending"])
        return HandleResult(received.message_id, received.conversation_id, received.duplicate, replies)

    async def _early_parse(self, msg: InboundMessage) -> dict[str, Any] | None:
        """The NLU result, computed before any lock (it depends on the text only); None when it failed."""
        try:
            return await self.nlu.parse(msg.text[: self.nlu_max_chars])
        except Exception as exc:  # parsed again under the lock (and handled there)
            metrics.SUPPRESSED_ERRORS.labels("pipeline_early_parse").inc()
            log.warning("early NLU parse failed channel=%s (%s); parsing again in the dialogue step",
                        msg.channel, type(exc).__name__)
            return None

    async def _handle_at_once(self, msg: InboundMessage, parse: dict[str, Any] | None,
                              deliver: bool) -> HandleResult | ReceiveResult | None:
        """A text message to a conversation nobody is processing, in ONE transaction: store it, run the dialogue
        step, store the replies, commit, then answer. Steps 1-5 of the module docstring without the commit
        between 1 and 2; the stored-before-answered rule holds (the answer leaves after the commit). On SQLite
        the session is a member of the group commit: the block is left only after the group's commit.

        Returns a ReceiveResult when the message was stored but must be processed the general way (the
        conversation is busy in this process, or older messages of it wait), None when nothing was stored (a
        redelivery, or a step that failed: the general path stores the message and retries or records it)."""
        async with self._at_once_session() as session:
            conversation, inserted = await self._store_inbound(session, msg)
            if inserted is None:  # a redelivery
                return None
            conversation_id, inbound = conversation.id, inserted.inbound
            if not await self.locks.try_hold(conversation_id):  # another request of this conversation is running
                await session.commit()
                metrics.MESSAGES_IN.labels(msg.channel).inc()
                return ReceiveResult(inbound.id, conversation_id, duplicate=False)
            try:
                if inserted.older_waiting:  # older messages first (left by a crash or an outage)
                    await session.commit()
                    metrics.MESSAGES_IN.labels(msg.channel).inc()
                    return ReceiveResult(inbound.id, conversation_id, duplicate=False)
                started = time.perf_counter()
                if parse is not None:
                    self._parsed[inbound.id] = parse
                try:
                    with conversation_context(conversation_id):
                        result = await self._step(session, conversation, inbound)
                except Exception as exc:
                    if is_database_down(exc):
                        raise
                    await session.rollback()  # nothing was stored; the general path retries and records it
                    return None
                finally:
                    self._parsed.pop(inbound.id, None)
                replies = await self._complete(session, conversation, inbound, result, deliver, started)
                metrics.MESSAGES_IN.labels(msg.channel).inc()
            finally:
                self.locks.release(conversation_id)
        if self.on_outbound is not None and replies:
            self.on_outbound(msg.channel)
        return HandleResult(inbound.id, conversation_id, False, replies)

    async def _store_inbound(self, session: AsyncSession, msg: InboundMessage
                             ) -> tuple[ConversationRow, rows.Inserted | None]:
        """Lock the user's conversation (row lock on PostgreSQL; created on first contact) and insert the
        inbound row into it: two statements in one call (storage/message_path.py)."""
        lock, values = not self.db.is_sqlite, _inbound_values(msg, [])
        stored = await session.run_sync(rows.store_inbound, msg.channel, msg.user_id, values, lock)
        if stored is None:  # first contact
            await self._conversation_for(session, msg)
            stored = await session.run_sync(rows.store_inbound, msg.channel, msg.user_id, values, lock)
            assert stored is not None
        return stored

    async def mark_delivered(self, message_ids: list[int]) -> None:
        """Pull channels (web chat, console) call this once replies were handed to the user."""
        if not message_ids:
            return
        async with self._writer(), self.db.session() as session:
            await session.execute(update(Message).where(Message.id.in_(message_ids), Message.status == "pending")
                                  .values(status="sent", sent_at=datetime.now(timezone.utc)))
            await session.commit()

    # 2-5. processing ----------------------------------------------------------------------------
    async def process(self, conversation_id: int) -> int:
        """Process every stored, unprocessed inbound message of a conversation, oldest first."""
        return len(await self._process_all(conversation_id))

    async def _process_all(self, conversation_id: int, deliver_for: int | None = None) -> dict[int, list[MessageRow]]:
        """Like process(); returns the reply rows per inbound message id processed in this call. The replies
        to inbound message `deliver_for` are stored as sent (the caller hands them over)."""
        done: dict[int, list[MessageRow]] = {}
        with conversation_context(conversation_id):
            async with self.locks.hold(conversation_id):
                while await self._process_next(conversation_id, done, deliver_for):
                    pass
        return done

    async def recover(self, older_than_seconds: float | None = None) -> int:
        """At start-up: process messages that were stored but not processed before a crash. The periodic
        sweep passes `older_than_seconds` so it leaves messages that a request is processing right now."""
        query = select(Message.conversation_id).where(Message.direction == "in", Message.status == "received")
        if older_than_seconds is not None:
            cutoff = datetime.now(timezone.utc) - timedelta(seconds=older_than_seconds)
            query = query.where(Message.created_at < cutoff)
        async with self.db.session() as session:
            ids = (await session.execute(query.distinct())).scalars().all()
        total = 0
        for conversation_id in ids:
            total += await self.process(conversation_id)
        if total:
            log.info("recovered %d unprocessed inbound messages", total)
        return total

    async def _process_next(self, conversation_id: int, done: dict[int, list[MessageRow]],
                            deliver_for: int | None = None) -> bool:
        """Process the oldest waiting inbound message under the conversation lock. Returns True when
        another one is waiting (a message stored later is processed by whoever stored it, or by us)."""
        async with self._writer(), self.db.session() as session:
            conversation = await session.run_sync(rows.load_conversation, conversation_id, not self.db.is_sqlite)
            inbound, more = await session.run_sync(rows.oldest_waiting, conversation_id)
            if inbound is None:
                return False
            inbound_id, channel = inbound.id, conversation.channel
            started = time.perf_counter()
            try:
                result = await self._step(session, conversation, inbound)
            except Exception as exc:
                if is_database_down(exc):
                    raise  # the database is gone: the message stays 'received' and is retried later
                log.exception("processing failed conversation=%s message=%s", conversation_id, inbound_id)
                metrics.PROCESSING_FAILURES.inc()
                await session.rollback()
                await self._mark_failed(conversation_id, inbound_id)
                return more
            replies = await self._complete(session, conversation, inbound, result, inbound_id == deliver_for, started)
        done[inbound_id] = replies
        if self.on_outbound is not None and replies:
            self.on_outbound(channel)
        return more

    async def _complete(self, session: AsyncSession, conversation: ConversationRow, inbound: Inbound,
                        result: StepResult, deliver: bool, started: float) -> list[MessageRow]:
        """Step 5: mark the inbound processed, store the replies and the conversation's changed columns (one
        UPDATE), commit, in one call (the session is only closed after it). `deliver`: the caller hands the
        replies over right away, so they are stored as sent (what mark_delivered() would do, in this
        transaction)."""
        if conversation.last_inbound_at is None or conversation.last_inbound_at < inbound.created_at:
            conversation.last_inbound_at = inbound.created_at
        now = datetime.now(timezone.utc)
        status, sent_at = ("sent", now) if deliver else ("pending", None)
        outbound = [dict(conversation_id=conversation.id, channel=conversation.channel, direction="out",
                         text=reply.text, choices=list(reply.choices), attachments=list(reply.attachments),
                         status=status, sent_at=sent_at, reply_to_id=inbound.id, sender="bot")
                    for reply in result.replies]
        processed = {"processed_at": now, "intent": result.intent, "intent_confidence": result.confidence}
        replies = await session.run_sync(rows.finish_and_commit, conversation, inbound.id, processed, outbound)
        metrics.MESSAGES_OUT.labels(conversation.channel).inc(len(replies))
        metrics.PROCESSING_SECONDS.labels(conversation.channel).observe(time.perf_counter() - started)
        return replies

    async def _step(self, session: AsyncSession, conversation: ConversationRow, inbound: Inbound) -> StepResult:
        max_mb = self.max_upload_bytes // (1024 * 1024)
        replies = [Reply(system_text("attachment_too_large", filename=a.get("filename") or "-", max_mb=max_mb))
                   for a in inbound.attachments if a.get("rejected") == "too_large"]
        replies += [Reply(system_text("attachment_storage_full", filename=a.get("filename") or "-"))
                    for a in inbound.attachments if a.get("rejected") == "storage_full"]
        text = (inbound.text or "")[:MAX_DIALOGUE_TEXT]
        in_form = conversation.mode == "bot" and bool((conversation.state or {}).get("flow"))
        # a bare STOP / BERHENTI outside a form: no more broadcasts (inside a form the engine asks which stop)
        keyword = None if in_form else optout.is_optout_keyword(text)
        if keyword is not None:
            await record_optout(session, conversation.id, f"keyword:{keyword}", inbound.created_at)
            replies.append(Reply(self.engine.text("unsubscribed")))
            if conversation.mode == "bot":
                state = dict(conversation.state or {})
                state.pop("pending", None)
                conversation.state = state
                return StepResult(replies)
        if conversation.mode != "bot":  # a person handles this conversation; the message waits in the inbox
            return StepResult(replies + self._staff_waiting_notice(conversation))
        survey = await self.survey.step(session, conversation, text, bool(inbound.attachments), inbound.created_at)
        replies += survey.replies
        if survey.consumed:
            return StepResult(replies)
        parse = self._parsed.pop(inbound.id, None) or await self.nlu.parse(text[: self.nlu_max_chars])
        metrics.observe_nlu(parse.get("intent", {}).get("name"))
        files = _stored_files(inbound.attachments)
        turn = Turn(conversation=conversation, channel=conversation.channel, text=text, parse=parse,
                    files=files, now=inbound.created_at, inspections=self._checked.pop(inbound.id, {}),
                    requester=inbound.requester, message_id=inbound.id, media=media_of(inbound.attachments))
        replies += await self.engine.step(session, self.files, turn)
        await self._case_events(session, turn)
        intent = optout.IN_FORM_STOP if in_form and optout.is_optout_keyword(text) else \
            parse.get("intent", {}).get("name")
        return StepResult(replies, intent, parse.get("intent", {}).get("confidence"))

    async def _case_events(self, session: AsyncSession, turn: Turn) -> None:
        """Hand the step's case events (a pilgrim's reply, a late document) to the back office's webhooks."""
        if self.case_events is None or not turn.events:
            return
        for event, case_id, extra in turn.events:
            case = await session.get(Case, case_id)
            if case is not None:
                self.case_events(session, event, case, **extra)

    @staticmethod
    def _staff_waiting_notice(conversation: ConversationRow) -> list[Reply]:
        """While waiting for staff, the first message after the hand-off is acknowledged (once)."""
        if conversation.mode != "waiting_staff":
            return []
        since = (conversation.handoff_since or conversation.updated_at or datetime.now(timezone.utc)).isoformat()
        state = dict(conversation.state or {})
        if state.get("staff_waiting_ack") == since:
            return []
        state["staff_waiting_ack"] = since
        conversation.state = state
        return [Reply(system_text("staff_waiting"))]

    async def _mark_failed(self, conversation_id: int, message_id: int) -> None:
        """Called inside _process_next (which holds the SQLite writer lock)."""
        async with self.db.session() as session:
            conversation = await session.get(Conversation, conversation_id)
            await session.execute(update(Message).where(Message.id == message_id)
                                  .values(status="failed", error="processing_error"))
            assert conversation is not None
            conversation.last_inbound_at = datetime.now(timezone.utc)
            session.add(Message(conversation_id=conversation_id, channel=conversation.channel, direction="out",
                                text=system_text("internal_error"), status="pending", reply_to_id=message_id,
                                sender="bot"))
            await session.commit()
        if self.on_outbound is not None:
            self.on_outbound(conversation.channel)

    # helpers ------------------------------------------------------------------------------------
    async def _find_inbound(self, channel: str, channel_message_id: str) -> Message | None:
        async with self.db.session() as session:
            return (await session.execute(select(Message).where(
                Message.channel == channel, Message.direction == "in",
                Message.channel_message_id == channel_message_id))).scalar_one_or_none()

    async def _conversation_for(self, session: AsyncSession, msg: InboundMessage) -> int:
        """The id of the user's conversation, created on first contact; row-locked on PostgreSQL."""
        query = _CONVERSATION_ID_OF_USER if self.db.is_sqlite else _CONVERSATION_ID_OF_USER_LOCKED
        params = {"channel": msg.channel, "user_id": msg.user_id}
        conversation_id = (await session.execute(query, params)).scalar_one_or_none()
        if conversation_id is not None:
            return int(conversation_id)
        conversation = Conversation(channel=msg.channel, channel_user_id=msg.user_id,
                                    display_name=msg.display_name, state={})
        session.add(conversation)
        try:
            await session.commit()
        except IntegrityError:  # created concurrently by another request
            await session.rollback()
            return int((await session.execute(query, params)).scalar_one())
        log.info("new conversation channel=%s user=%s", msg.channel, mask_user_id(msg.user_id))
        if not self.db.is_sqlite:
            await session.run_sync(rows.load_conversation, conversation.id, True)
        return conversation.id

    async def _store_attachments(self, msg: InboundMessage) -> list[dict[str, object]]:
        """Save attachments in the file store; over-size ones are recorded as rejected, not stored."""
        result: list[dict[str, object]] = []
        for attachment in msg.attachments:
            if len(attachment.data) > self.max_upload_bytes:
                result.append({"filename": attachment.filename, "size": len(attachment.data),
                               "rejected": "too_large"})
                continue
            try:
                stored = await self.files.put(attachment.data, attachment.filename)
            except OSError as exc:
                if exc.errno not in DISK_FULL_ERRNOS:
                    raise
                # The store removed its temp file; nothing references a half-written file. Step 4 tells the user.
                log.error("document store full: attachment not stored (%d bytes)", len(attachment.data))
                metrics.STORAGE_FULL.inc()
                result.append({"filename": attachment.filename, "size": len(attachment.data),
                               "rejected": "storage_full"})
                continue
            kind = attachment_kind(attachment.kind, attachment.content_type, stored.content_type)
            result.append({**stored.to_json(), "kind": kind} if kind != DOCUMENT else stored.to_json())
        result += [share for share in map(share_json, msg.shares) if share is not None]
        return result


def _inbound_values(msg: InboundMessage, attachments: list[dict[str, Any]]) -> dict[str, Any]:
    """The columns of a new inbound row but its conversation id."""
    return dict(channel=msg.channel, direction="in", channel_message_id=msg.channel_message_id,
                text=_storable(msg.text), attachments=attachments, status="received", sender="user",
                created_at=msg.at, requester=msg.requester)


def _storable(text: str) -> str:
    """PostgreSQL text cannot hold NUL characters; lone surrogates cannot be encoded."""
    text = text.replace("\x00", "")[:MAX_STORED_TEXT]
    return text.encode("utf-8", "replace").decode("utf-8")


def _stored_files(attachments: list[dict[str, Any]]) -> list[StoredFile]:
    """The documents of an inbound row that were stored (not rejected as too large or for a full disk; not a
    voice note, sticker or other media, which the engine sees as `Turn.media`)."""
    return [StoredFile.from_json(a) for a in attachments if is_document(a)]
