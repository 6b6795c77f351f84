"""Logging set-up with personal data masked: NIK, porsi and phone numbers never reach the log unmasked."""
from __future__ import annotations

import json
import logging
import re
from datetime import datetime, timezone

_DIGIT_RUN = re.compile(r"(?<!\d)(\+?\d[\d \-]{7,}\d)(?!\d)")


def mask_digits(text: str) -> str:
    """Keep the last 3 digits of long digit runs (NIK, porsi, phone, account numbers)."""

    def repl(match: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", match.group(1))
        return "*" * (len(digits) - 3) + digits[-3:]

    return _DIGIT_RUN.sub(repl, text)


def mask_user_id(user_id: str) -> str:
    """A short masked form of a channel user id for log lines."""
    if len(user_id) <= 4:
        return "***"
    return f"***{user_id[-4:]}"


class MaskingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_digits(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key in ("conversation_id", "request_id", "channel"):
            if hasattr(record, key):
                payload[key] = getattr(record, key)
        if record.exc_info:
            payload["exc"] = mask_digits(self.formatException(record.exc_info))
        return json.dumps(payload, ensure_ascii=False)


def setup_logging(level: str = "INFO", json_lines: bool = False) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(MaskingFilter())
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aiohttp.access", "httpx", "telegram", "twilio.http_client"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
