"""Staff-facing messages produced by back-office code, kept in texts.yml (not in Python)."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

TEXTS_PATH = Path(__file__).with_name("texts.yml")


@lru_cache(maxsize=1)
def _texts() -> dict[str, str]:
    return {str(k): str(v) for k, v in yaml.safe_load(TEXTS_PATH.read_text(encoding="utf-8")).items()}


def staff_text(key: str, **values: Any) -> str:
    """The staff message for `key`, formatted with `values`."""
    return _texts()[key].format(**values)
