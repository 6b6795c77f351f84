"""The context of one dialogue turn."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Callable, Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from dialogues.parsing import normalize
from dialogues.replies import Reply
from dialogues.turn import Turn
from storage.files import FileStore
from storage.message_path import ConversationRow
from storage.models import Conversation

if TYPE_CHECKING:
    from dialogues.engine import DialogueEngine

INFO_INTENTS = ("faq", "ask_cost", "ask_schedule", "ask_office")
FLOW_KEYS = ("flow", "step", "slots", "fails", "pending", "docs", "doc_item", "pilgrim", "verified", "options",
             "ticket")
DOC_DONE = ("sent", "skipped", "missing")
MAX_LOOP = 200


T = TypeVar("T")


class per_turn(Generic[T]):  # noqa: N801 (used like functools.cached_property)
    """A value of the turn worked out on first use and kept in the Ctx: functools.cached_property without its
    lock (Python 3.11 takes one on every first use; a turn runs in one task)."""

    def __init__(self, func: Callable[[Any], T]) -> None:
        self.func = func
        self.name = func.__name__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, instance: Any, owner: type | None = None) -> T:
        if instance is None:
            return self  # type: ignore[return-value]
        value = self.func(instance)
        instance.__dict__[self.name] = value
        return value


def original_span(text: str, fragment: str) -> str:
    """The part of `text` that normalises to `fragment` (keeps the user's capitals), else the fragment."""
    words = fragment.split()
    if not words:
        return fragment
    m = re.search(r"\W+".join(re.escape(w) for w in words), text, re.IGNORECASE)
    return m.group() if m else fragment


@dataclass
class Ctx:
    """Everything one turn needs; `state` is a private copy written back at the end. What depends only on the
    turn's message, its NLU result and `now` (which a step never changes) is worked out once per turn."""

    engine: "DialogueEngine"
    session: AsyncSession
    files: FileStore
    turn: Turn
    state: dict[str, Any]
    now: datetime
    replies: list[Reply] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def conv(self) -> ConversationRow | Conversation:
        return self.turn.conversation

    @property
    def slots(self) -> dict[str, Any]:
        return self.state.setdefault("slots", {})

    @property
    def fails(self) -> dict[str, int]:
        return self.state.setdefault("fails", {})

    @per_turn
    def text(self) -> str:
        return (self.turn.text or "").strip()

    @property
    def readings(self) -> list[str]:
        """The message as written, then the NLU's standard-Indonesian reading of it when the backend gives one
        that differs (slang and Minang mapped, digits kept: 'amak alah maningga' -> 'ibu sudah meninggal')."""
        return list(self._readings)

    @per_turn
    def _readings(self) -> tuple[str, ...]:
        out = [self.text] if self.text else []
        value = (self.turn.parse or {}).get("text_normalized")
        if isinstance(value, str) and value.strip() and normalize(value) != normalize(self.text):
            out.append(value)
        return tuple(out)

    @per_turn
    def intent(self) -> str | None:
        return ((self.turn.parse or {}).get("intent") or {}).get("name")

    @per_turn
    def confidence(self) -> float:
        return float(((self.turn.parse or {}).get("intent") or {}).get("confidence") or 0.0)

    @per_turn
    def today(self) -> date:
        return self.now.astimezone(self.engine.tz).date()

    def say(self, key: str, choices: list[str] | None = None, **values: Any) -> None:
        self.replies.append(Reply(self.engine.text(key, self, **values), choices=list(choices or [])))

    def merge_last(self, n: int) -> None:
        """Join the last `n` replies into one message (lists read better as one bubble)."""
        if n > 1 and len(self.replies) >= n:
            merged = self.replies[-n:]
            self.replies[-n:] = [Reply("\n".join(r.text for r in merged), choices=merged[-1].choices)]
