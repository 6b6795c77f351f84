"""The rows bot/core/pipeline.py reads and writes for each message, with Core statements built once.

The ORM (identity map, unit of work, object loading) cost more per message than everything else the pipeline
does with the database, so the message path works with plain rows instead:

- `ConversationRow`: the conversation, loaded once per message. The dialogue step changes its attributes
  (`state`, `mode`, `pilgrim_id`, ...) like an ORM object's; `finish()` then writes the changed
  columns in ONE UPDATE (none changed: no statement). A column the step changed with its own UPDATE (e.g.
  storage/optouts.py clearing `subscribed`) is not overwritten, as with the ORM.
- `store_inbound()`: the conversation (row-locked on PostgreSQL) and the inbound row, whose INSERT also says
  whether an older inbound message of the conversation still waits (under the conversation lock, so the
  answer cannot change before the commit).
- `finish()`: the inbound row marked processed, the replies inserted, the conversation saved;
  `finish_and_commit()` also commits (`commit()`: without the ORM's unit of work when nothing is pending in it).
- `load_conversation()`, `oldest_waiting()`, `insert_inbound()`, `replies_to()`: for the general path.

Replies come back as `MessageRow`s: named tuples of the messages table's columns, read like a `Message`
(`id`, `text`, `choices`, `attachments`, `status`, `sent_at`, ...).

The statements are Core (the one source of their SQL) but run through storage/dbapi_sql.py: compiled once per
dialect and run on the session's DBAPI connection, with SQLAlchemy's own type conversions but without its
execution layer (a third of a message's CPU). They are in the session's transaction like any Core statement.

The functions take the SYNC session of the caller's AsyncSession and run in its transaction (only
`finish_and_commit()` and `commit()` commit): `await session.run_sync(store_inbound, ...)` runs several statements
for one hop into SQLAlchemy's greenlet instead of one per statement.
"""
from __future__ import annotations

from collections import namedtuple
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Boolean, bindparam, insert, literal_column, select, update
from sqlalchemy.exc import IntegrityError, NoResultFound
from sqlalchemy.orm import Session

from storage.dbapi_sql import Statement, fetch, fetch_each
from storage.models import Conversation, Message

CONVERSATIONS = Conversation.__table__
MESSAGES = Message.__table__
_COLUMNS = tuple(c.key for c in CONVERSATIONS.c)

MessageRow = namedtuple("MessageRow", [c.key for c in MESSAGES.c])  # type: ignore[misc]  # a reply as stored

_CONVERSATION = select(*CONVERSATIONS.c)
_OF_ID = CONVERSATIONS.c.id == bindparam("conversation_id")
_OF_USER = (CONVERSATIONS.c.channel == bindparam("channel"), CONVERSATIONS.c.channel_user_id == bindparam("user_id"))
_BY_ID = Statement(_CONVERSATION.where(_OF_ID))
_BY_ID_LOCKED = Statement(_CONVERSATION.where(_OF_ID).with_for_update())
_BY_USER = Statement(_CONVERSATION.where(*_OF_USER))
_BY_USER_LOCKED = Statement(_CONVERSATION.where(*_OF_USER).with_for_update())
_UPDATE_CONVERSATION = Statement(update(CONVERSATIONS).where(_OF_ID))

# Evaluated by the INSERT itself, after the conversation lock was taken: on PostgreSQL a statement sees what was
# committed before it started, so a message another process stored while we waited for the lock is seen (a
# subquery in the locking SELECT would not see it: that statement's snapshot predates the wait).
_OLDER_WAITING = literal_column(
    "EXISTS (SELECT 1 FROM messages AS waiting WHERE waiting.conversation_id = messages.conversation_id"
    " AND waiting.direction = 'in' AND waiting.status = 'received' AND waiting.id < messages.id)", Boolean)
_INSERT_INBOUND = Statement(insert(MESSAGES).returning(MESSAGES.c.id, MESSAGES.c.created_at, _OLDER_WAITING))
_WAITING = Statement(select(MESSAGES.c.id, MESSAGES.c.text, MESSAGES.c.attachments, MESSAGES.c.created_at,
                            MESSAGES.c.requester)
                     .where(MESSAGES.c.conversation_id == bindparam("conversation_id"), MESSAGES.c.direction == "in",
                            MESSAGES.c.status == "received").order_by(MESSAGES.c.id).limit(2))
_MARK_PROCESSED = Statement(update(MESSAGES).where(MESSAGES.c.id == bindparam("inbound_id")))
_INSERT_REPLY = Statement(insert(MESSAGES).returning(*MESSAGES.c))
_REPLIES_TO = Statement(select(*MESSAGES.c).where(MESSAGES.c.reply_to_id == bindparam("message_id"))
                        .order_by(MESSAGES.c.id))


class ConversationRow:
    """A conversation row as a plain object: attributes named like `Conversation`'s columns."""

    __slots__ = _COLUMNS + ("_loaded",)
    id: int
    channel: str
    channel_user_id: str
    display_name: str | None
    state: dict[str, Any]
    mode: str
    handoff_since: datetime | None
    handoff_staff_id: int | None
    subscribed: bool
    subscribed_at: datetime | None
    blocked: bool
    pilgrim_id: int | None
    last_inbound_at: datetime | None
    created_at: datetime
    updated_at: datetime

    def __init__(self, row: Sequence[Any]) -> None:
        for key, value in zip(_COLUMNS, row):
            setattr(self, key, value)
        self._loaded = tuple(row)

    def changes(self) -> dict[str, Any]:
        """The columns whose attribute was set to a different value since loading."""
        return {key: getattr(self, key) for key, old in zip(_COLUMNS, self._loaded) if getattr(self, key) != old}


class Inbound(NamedTuple):
    """What the dialogue step needs of a stored inbound message."""

    id: int
    text: str
    attachments: list[dict[str, Any]]
    created_at: datetime
    requester: str | None


class Inserted(NamedTuple):
    inbound: Inbound
    older_waiting: bool  # an older inbound message of the conversation is still unprocessed


def load_conversation(session: Session, conversation_id: int, lock: bool) -> ConversationRow:
    """The conversation; `lock`: row-locked (SELECT ... FOR UPDATE, PostgreSQL) until the transaction ends."""
    found = fetch(session.connection(), _BY_ID_LOCKED if lock else _BY_ID, {"conversation_id": conversation_id})
    if not found:
        raise NoResultFound(f"no conversation {conversation_id}")
    return ConversationRow(found[0])


def store_inbound(session: Session, channel: str, user_id: str, values: dict[str, Any], lock: bool
                  ) -> tuple[ConversationRow, Inserted | None] | None:
    """The user's conversation (`lock` as in load_conversation()) and the inbound row inserted into it
    (`values`: its columns but the conversation id); None when the user has no conversation yet; the
    Inserted is None for a redelivery (the unique channel message id): the transaction was rolled back."""
    found = fetch(session.connection(), _BY_USER_LOCKED if lock else _BY_USER, {"channel": channel, "user_id": user_id})
    if not found:
        return None
    conversation = ConversationRow(found[0])
    return conversation, insert_inbound(session, {**values, "conversation_id": conversation.id})


def insert_inbound(session: Session, values: dict[str, Any]) -> Inserted | None:
    """Insert an inbound row (`values`: its columns, status 'received'); None for a redelivery, after rolling
    the transaction back."""
    try:
        (row,) = fetch(session.connection(), _INSERT_INBOUND, values)
    except IntegrityError:
        session.rollback()
        return None
    inbound = Inbound(row[0], values["text"], values["attachments"], row[1], values.get("requester"))
    return Inserted(inbound, bool(row[2]))


def oldest_waiting(session: Session, conversation_id: int) -> tuple[Inbound | None, bool]:
    """The oldest unprocessed inbound message of the conversation, and whether another one waits after it."""
    rows = fetch(session.connection(), _WAITING, {"conversation_id": conversation_id})
    return (Inbound(*rows[0]) if rows else None), len(rows) > 1


def finish(session: Session, conversation: ConversationRow, inbound_id: int, processed: dict[str, Any],
           replies: list[dict[str, Any]]) -> list[MessageRow]:
    """Step 5 without the commit: mark the inbound row processed (`processed`: its processed_at, intent,
    intent_confidence), insert the replies (returned as stored, in order: one INSERT each, so their ids follow
    their order; one round trip on PostgreSQL), write the conversation's changed columns in one UPDATE
    (`updated_at` follows; none changed: no statement)."""
    connection = session.connection()
    fetch(connection, _MARK_PROCESSED, {"inbound_id": inbound_id, "status": "processed", **processed})
    stored = [MessageRow(*row) for row in fetch_each(connection, _INSERT_REPLY, replies)]
    changes = conversation.changes()
    if changes:
        fetch(connection, _UPDATE_CONVERSATION, {"conversation_id": conversation.id, **changes})
        conversation._loaded = tuple(getattr(conversation, key) for key in _COLUMNS)
    return stored


def finish_and_commit(session: Session, conversation: ConversationRow, inbound_id: int, processed: dict[str, Any],
                      replies: list[dict[str, Any]]) -> list[MessageRow]:
    """finish(), then commit: everything of the message in one transaction, as before."""
    stored = finish(session, conversation, inbound_id, processed, replies)
    commit(session)
    return stored


def commit(session: Session) -> None:
    """Commit the session's transaction. When no ORM change is pending (the usual case: the message path writes
    with Core statements) the connection commits directly, without the unit of work's flush and commit
    bookkeeping; the session, whose transaction is then spent, must only be closed after this."""
    if session.new or session.dirty or session.deleted:
        session.commit()
    else:
        session.connection().commit()


def replies_to(session: Session, message_id: int) -> list[MessageRow]:
    """The stored replies to an inbound message, in order."""
    return [MessageRow(*row) for row in fetch(session.connection(), _REPLIES_TO, {"message_id": message_id})]
