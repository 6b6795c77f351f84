"""The case state machine."""
import pytest

from bot.backoffice.states import (
    CLOSED_STATUSES, STATUSES, TRANSITIONS, IllegalTransition, action_for_target, allowed_actions, target_status,
)


def test_happy_path():
    status = "submitted"
    for action, expected in (("start_review", "in_review"), ("request_info", "need_info"),
                             ("start_review", "in_review"), ("invite", "invited"), ("approve", "approved"),
                             ("complete", "completed")):
        status = target_status(action, status)
        assert status == expected


@pytest.mark.parametrize("action,status", [
    ("approve", "submitted"), ("complete", "in_review"), ("complete", "rejected"), ("approve", "rejected"),
    ("reject", "approved"), ("start_review", "completed"), ("invite", "approved"), ("nonsense", "submitted"),
])
def test_illegal_transitions_refused(action, status):
    with pytest.raises(IllegalTransition):
        target_status(action, status)


def test_closed_statuses_have_no_actions():
    for status in CLOSED_STATUSES:
        assert allowed_actions(status) == []


def test_every_target_is_a_status_and_every_status_reachable():
    targets = {t.target for t in TRANSITIONS.values()}
    assert targets <= set(STATUSES)
    assert set(STATUSES) - targets == {"submitted"}


def test_action_for_target():
    assert action_for_target("in_review", "approved") == "approve"
    assert action_for_target("submitted", "approved") is None
    assert action_for_target("approved", "completed") == "complete"
