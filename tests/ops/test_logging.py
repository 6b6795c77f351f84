"""Logs carry request/conversation ids and never personal data (NIK, porsi, phone, names, message text)."""
from __future__ import annotations

import json
import logging
from typing import Any

from bot.core.privacy_log import (
    CONVERSATION_ID, QUIET_LOGGERS, REQUEST_ID, JsonFormatter, MaskingFilter, mask_digits, mask_user_id, scrub,
)
from tests.conftest import chat_cookies

NIK = "3175064512600001"
PORSI = "0312345678"
PHONE = "+62 812-3456-7890"


def record(msg: str, *args: Any, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc else None
    return logging.LogRecord("t", logging.ERROR, __file__, 1, msg, args, exc_info)


def test_digit_runs_are_masked() -> None:
    text = mask_digits(f"nik {NIK} porsi {PORSI} hp {PHONE} wa 081234567890")
    for secret in (NIK, PORSI, "81234567890", "3456-7890"):
        assert secret not in text
    assert "*************001" in text and "*******678" in text


def test_filter_masks_args_traceback_sql_parameters_and_emails() -> None:
    try:
        raise ValueError(f"bad porsi {PORSI} for siti@example.com")
    except ValueError as exc:
        rec = record("lookup failed for %s [parameters: ('Siti Aminah', '%s')]", NIK, PORSI, exc=exc)
    assert MaskingFilter().filter(rec)
    line = JsonFormatter().format(rec)
    for secret in (NIK, PORSI, "Siti Aminah", "siti@example.com"):
        assert secret not in line
    assert "<hidden>" in line and "<email>" in line


def test_asyncpg_key_detail_is_hidden() -> None:
    text = scrub('duplicate key DETAIL:  Key (channel, channel_user_id)=(webchat, budi santoso) already exists.')
    assert "budi santoso" not in text


def test_json_lines_carry_request_and_conversation_ids() -> None:
    token_r, token_c = REQUEST_ID.set("req-1"), CONVERSATION_ID.set(42)
    try:
        rec = record("processing")
        MaskingFilter().filter(rec)
    finally:
        REQUEST_ID.reset(token_r)
        CONVERSATION_ID.reset(token_c)
    payload = json.loads(JsonFormatter().format(rec))
    assert payload["request_id"] == "req-1" and payload["conversation_id"] == 42


def test_user_ids_are_masked() -> None:
    assert mask_user_id("whatsapp:+6281234567890") == "***7890"
    assert mask_user_id("abc") == "***"


async def test_a_whole_conversation_logs_no_personal_data(client: Any, caplog: Any) -> None:
    """Drive a conversation with a name, NIK, porsi and phone through the app at DEBUG level: none of it
    (nor any message text) appears in any log record, even before the masking filter."""
    caplog.set_level(logging.DEBUG)
    texts = ["assalamualaikum", f"cek porsi {PORSI}", "nama saya Siti Aminah binti Abdullah",
             f"NIK saya {NIK}", f"hp saya {PHONE}", "bapak saya sudah meninggal, mau batal haji"]
    for text in texts:
        response = await client.post("/webchat/messages", json={"text": text}, cookies=chat_cookies(client, "wa-6281234567890"))
        assert response.status == 200
    ours = [r for r in caplog.records if not r.name.startswith(QUIET_LOGGERS)]  # those stay at WARNING
    assert ours, "nothing logged at all?"
    logged = "\n".join(r.getMessage() + (r.exc_text or "") for r in ours)
    for secret in [NIK, PORSI, "Siti Aminah", "Abdullah", "6281234567890", "meninggal", *texts]:
        assert secret not in logged, secret
