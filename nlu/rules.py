"""The few keyword/entity overrides that are clearly right, applied after the classifier."""
from __future__ import annotations

import re
from typing import Any

_TICKET_KEEP = {"check_case_status", "human_handoff", "stop", "thanks", "goodbye", "deny", "affirm"}
_ONLY_TICKET_WORDS = re.compile(r"^(?:(?:cek|status|tiket|kode|nomor|no|pengajuan|kasus|saya|ini|tolong|dong|"
                                r"min|pak|bu|kodetiket)\s*)*$")


def override(norm: str, entities: list[dict[str, Any]], ranking: list[tuple[str, float]]) -> tuple[str, float] | None:
    """Return (intent, confidence) to force, or None to keep the classifier's answer."""
    names = {e["entity"] for e in entities}
    top, conf = ranking[0]
    if "ticket" in names and top not in _TICKET_KEEP:
        return "check_case_status", max(conf, 0.9)
    if "ticket" in names and _ONLY_TICKET_WORDS.match(norm):
        return "check_case_status", max(conf, 0.95)
    return None
