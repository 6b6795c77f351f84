"""Runs Alembic migrations programmatically (`hajibot init`) and reports whether the schema is current."""
from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Create or upgrade the schema to `revision` (blocking; call from a thread inside a loop)."""
    command.upgrade(alembic_config(url), revision)


def head_revisions() -> set[str]:
    return set(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads())


async def is_current(engine: AsyncEngine) -> bool:
    """True when the database is at the latest migration."""
    async with engine.connect() as conn:
        current = await conn.run_sync(lambda c: set(MigrationContext.configure(c).get_current_heads()))
    return current == head_revisions()
