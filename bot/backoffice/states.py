"""The case state machine: which staff action moves a case from which status to which.

    submitted ──start_review──▶ in_review ──approve──▶ approved ──complete──▶ completed
        │                        ▲   │
        │ request_info / invite  │   │ request_info / invite
        ▼                        │   ▼
    need_info / invited ──start_review (or approve from invited)
    any open status ──reject──▶ rejected (closed)

Reviewing a document moves a submitted case to in_review on its own. Anything else is refused.
"""
from __future__ import annotations

from dataclasses import dataclass

STATUSES: tuple[str, ...] = ("submitted", "in_review", "need_info", "invited", "approved", "rejected", "completed")
OPEN_STATUSES: frozenset[str] = frozenset({"submitted", "in_review", "need_info", "invited", "approved"})
CLOSED_STATUSES: frozenset[str] = frozenset({"rejected", "completed"})
WAITING_ON_OFFICE: frozenset[str] = frozenset({"submitted", "in_review"})  # counted against the SLA


@dataclass(frozen=True)
class Transition:
    action: str
    sources: frozenset[str]
    target: str
    needs_text: bool = False  # reason / question for the pilgrim
    needs_slot: bool = False


TRANSITIONS: dict[str, Transition] = {t.action: t for t in (
    Transition("start_review", frozenset({"submitted", "need_info", "invited"}), "in_review"),
    Transition("request_info", frozenset({"submitted", "in_review", "invited"}), "need_info", needs_text=True),
    Transition("invite", frozenset({"submitted", "in_review", "need_info"}), "invited", needs_slot=True),
    Transition("approve", frozenset({"in_review", "invited"}), "approved"),
    Transition("reject", frozenset({"submitted", "in_review", "need_info", "invited"}), "rejected", needs_text=True),
    Transition("complete", frozenset({"approved"}), "completed"),
)}


class IllegalTransition(Exception):
    def __init__(self, action: str, status: str) -> None:
        super().__init__(f"{action} not allowed from {status}")
        self.action = action
        self.status = status


def target_status(action: str, status: str) -> str:
    """The status after `action`; raises IllegalTransition when not allowed (or unknown)."""
    transition = TRANSITIONS.get(action)
    if transition is None or status not in transition.sources:
        raise IllegalTransition(action, status)
    return transition.target


def allowed_actions(status: str) -> list[str]:
    return [t.action for t in TRANSITIONS.values() if status in t.sources]


def action_for_target(status: str, target: str) -> str | None:
    """The action that moves `status` to `target` (for the API's {"status": ...} form)."""
    for t in TRANSITIONS.values():
        if t.target == target and status in t.sources:
            return t.action
    return None
