"""Runs Alembic migrations programmatically (`hajibot init`). Whether the schema is current: storage/schema_version.py."""
from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
logging.getLogger("alembic").setLevel(logging.WARNING)


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Create or upgrade the schema to `revision` (blocking; call from a thread inside a loop)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(url), revision)


def head_revisions() -> set[str]:
    """The latest revisions as Alembic reads them."""
    return set(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads())
