"""Errors raised by the dialogue room."""
from __future__ import annotations


class DialogueConfigError(Exception):
    """A flow, response or rules file is invalid. The message is one line: file, line, what is wrong."""
