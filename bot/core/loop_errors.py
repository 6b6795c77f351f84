"""How a background loop (outbox, broadcast, webhooks, retention) reports a failed pass.

A database outage makes every pass fail: the operator gets one line when it starts and one when it ends, not a
traceback per second. Anything else is a bug and is logged with its traceback."""
from __future__ import annotations

import logging

from bot.core.ops_http import is_database_down


class PassErrors:
    """Reports failed passes of one background loop."""

    def __init__(self, name: str, logger: logging.Logger) -> None:
        self.name = name
        self.log = logger
        self.database_down = False

    def failed(self, exc: BaseException) -> None:
        """Call from the loop's `except Exception as exc:`."""
        if is_database_down(exc):
            if not self.database_down:
                self.log.warning("%s: database unreachable (%s); retrying until it is back", self.name,
                                 type(exc).__name__)
            self.database_down = True
            return
        self.log.error("%s: pass failed", self.name, exc_info=exc)

    def succeeded(self) -> None:
        """Call after a pass that worked."""
        if self.database_down:
            self.log.warning("%s: database reachable again", self.name)
        self.database_down = False
