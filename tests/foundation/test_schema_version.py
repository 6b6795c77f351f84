"""storage/schema_version.py tells a serving process whether the schema is current without loading Alembic:
it must agree with Alembic on the heads and on the database."""
from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy.ext.asyncio import create_async_engine

from storage.migrate import head_revisions as alembic_heads
from storage.migrate import upgrade
from storage.schema_version import head_revisions, is_current


def test_heads_agree_with_alembic() -> None:
    assert set(head_revisions()) == alembic_heads()


def current(url: str) -> bool:
    async def check() -> bool:
        engine = create_async_engine(url)
        try:
            return await is_current(engine)
        finally:
            await engine.dispose()
    return asyncio.run(check())


def test_a_database_is_current_only_at_the_head(tmp_path: Path, database_url: str) -> None:
    assert current(database_url)  # migrated by the fixture
    url = f"sqlite+aiosqlite:///{tmp_path / 'partial.db'}"
    assert not current(url)  # no version table yet
    upgrade(url, "0001_initial")
    assert not current(url)
    upgrade(url)
    assert current(url)
