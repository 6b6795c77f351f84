"""A background loop reports a database outage in one line when it starts and one when it ends."""
from __future__ import annotations

import logging

import pytest
from sqlalchemy.exc import OperationalError

from bot.core.loop_errors import PassErrors


def test_outage_is_one_line_each_way_and_bugs_keep_their_traceback(caplog: pytest.LogCaptureFixture) -> None:
    errors = PassErrors("outbox", logging.getLogger("test.loop"))
    down = OperationalError("SELECT 1", {}, ConnectionRefusedError(111, "Connection refused"))
    with caplog.at_level(logging.WARNING, logger="test.loop"):
        for _ in range(30):  # a pass per second for half a minute
            errors.failed(down)
        errors.succeeded()
        errors.succeeded()
        errors.failed(ValueError("bug"))
    lines = [(r.levelname, r.getMessage(), r.exc_info is not None) for r in caplog.records]
    assert lines == [
        ("WARNING", "outbox: database unreachable (OperationalError); retrying until it is back", False),
        ("WARNING", "outbox: database reachable again", False),
        ("ERROR", "outbox: pass failed", True),
    ]
