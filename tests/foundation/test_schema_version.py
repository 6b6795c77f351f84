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


def test_the_migrations_create_every_index_the_models_declare(database_url: str) -> None:
    """A model's index without a migration (or the other way round) would exist only in test databases built
    from the models; `hajibot init` builds from the migrations."""
    from sqlalchemy import inspect

    from storage.models import Base

    async def indexes() -> dict[str, set[str]]:
        engine = create_async_engine(database_url)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(lambda sync: {
                    table: {index["name"] for index in inspect(sync).get_indexes(table)}
                    for table in Base.metadata.tables})
        finally:
            await engine.dispose()

    migrated = asyncio.run(indexes())
    for table in Base.metadata.sorted_tables:
        declared = {index.name for index in table.indexes}
        assert declared <= migrated[table.name], (table.name, declared - migrated[table.name])


def test_failure_counts_read_only_failures(tmp_path: Path) -> None:
    """dialogues/throttle.py counts failures before every identity check: each part of its query must search a
    partial index of failures (successes, the usual case, are never read)."""
    import sqlite3

    from sqlalchemy.dialects import sqlite

    from dialogues.throttle import _FAILURES

    path = tmp_path / "plan.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    compiled = _FAILURES.compile(dialect=sqlite.dialect())
    parameters = [compiled.params[name] for name in compiled.positiontup or []]
    with sqlite3.connect(path) as conn:
        plan = [row[-1] for row in conn.execute(f"EXPLAIN QUERY PLAN {compiled.string}", parameters)]
    searches = [step for step in plan if step.startswith(("SEARCH", "SCAN"))]
    assert len(searches) == 6, plan
    assert all("ix_verification_failures_" in step for step in searches), plan
