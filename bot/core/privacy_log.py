"""Logging set-up with personal data masked: NIK, porsi and phone numbers never reach the log unmasked.

Rules for code that logs (UU 27/2022): never log message texts, names, NIK or addresses; log ids
(conversation, message, case) and masked user ids (`mask_user_id`). As a safety net the filter below masks
long digit runs (NIK, porsi, phone, account numbers), e-mail addresses and the bound parameters that
SQLAlchemy puts into error messages (they may contain message texts or names).

Each record carries the current request id and conversation id (contextvars set by the HTTP middleware
and the pipeline), so one message can be followed across log lines; JSON lines with `server.log_json`.
"""
from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timezone

REQUEST_ID: ContextVar[str | None] = ContextVar("hajibot_request_id", default=None)
CONVERSATION_ID: ContextVar[int | None] = ContextVar("hajibot_conversation_id", default=None)

_DIGIT_RUN = re.compile(r"(?<!\d)(\+?\d[\d \-]{7,}\d)(?!\d)")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
_SQL_PARAMS = re.compile(r"\[parameters: .*?\](?=\s*(\(Background|\[SQL|$))", re.S)
_ASYNCPG_DETAIL = re.compile(r"(DETAIL: .*?=\().*?(\))", re.S)


def mask_digits(text: str) -> str:
    """Keep the last 3 digits of long digit runs (NIK, porsi, phone, account numbers)."""

    def repl(match: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", match.group(1))
        return "*" * (len(digits) - 3) + digits[-3:]

    return _DIGIT_RUN.sub(repl, text)


def scrub(text: str) -> str:
    """Everything the filter removes: SQL parameters, key values in DB errors, e-mails, digit runs."""
    text = _SQL_PARAMS.sub("[parameters: <hidden>]", text)
    text = _ASYNCPG_DETAIL.sub(r"\1<hidden>\2", text)
    text = _EMAIL.sub("<email>", text)
    return mask_digits(text)


def mask_user_id(user_id: str) -> str:
    """A short masked form of a channel user id for log lines."""
    if len(user_id) <= 4:
        return "***"
    return f"***{user_id[-4:]}"


@contextmanager
def conversation_context(conversation_id: int) -> Iterator[None]:
    """Tag log records inside the block with the conversation id."""
    token = CONVERSATION_ID.set(conversation_id)
    try:
        yield
    finally:
        CONVERSATION_ID.reset(token)


class MaskingFilter(logging.Filter):
    """Masks personal data in the message and the traceback; adds request/conversation ids."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = scrub(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        if not hasattr(record, "request_id") and REQUEST_ID.get() is not None:
            record.request_id = REQUEST_ID.get()
        if not hasattr(record, "conversation_id") and CONVERSATION_ID.get() is not None:
            record.conversation_id = CONVERSATION_ID.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line with named fields only. Not python-json-logger: it copies every `extra`
    attribute into the line and formats tracebacks again from exc_info, so both would bypass the masking
    filter (checked with python-json-logger 4.2)."""

    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key in ("request_id", "conversation_id", "channel"):
            if hasattr(record, key):
                payload[key] = getattr(record, key)
        if record.exc_text or record.exc_info:
            payload["exc"] = scrub(record.exc_text or self.formatException(record.exc_info))  # type: ignore[arg-type]
        return json.dumps(payload, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """Plain lines, with the request/conversation ids appended when known."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        ids = [f"{k}={getattr(record, k)}" for k in ("request_id", "conversation_id") if hasattr(record, k)]
        return f"{line} [{' '.join(ids)}]" if ids else line


# Libraries whose DEBUG/INFO lines contain SQL parameters, URLs with user ids or payloads: kept at WARNING
# even when the service runs at DEBUG.
QUIET_LOGGERS = ("aiohttp.access", "httpx", "httpcore", "telegram", "twilio.http_client", "aiosqlite",
                 "sqlalchemy.engine", "asyncpg")


def setup_logging(level: str = "INFO", json_lines: bool = False) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(MaskingFilter())
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter(
        "%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in QUIET_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)
