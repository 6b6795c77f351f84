"""Whether the database is at the latest migration, without loading Alembic (~11 MB per serving process; only
`hajibot init` migrates, storage/migrate.py). The heads are read from the revision files' `revision` and
`down_revision` assignments; tests/foundation/test_schema_version.py checks they agree with Alembic's."""
from __future__ import annotations

import ast
import functools
from pathlib import Path

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

VERSIONS_DIR = Path(__file__).parent / "migrations" / "versions"
VERSION_TABLE = "alembic_version"


def _assigned(path: Path, names: tuple[str, ...]) -> dict[str, object]:
    """Module-level literal assignments of `names` in a revision file."""
    found: dict[str, object] = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name) \
                and node.targets[0].id in names:
            found[node.targets[0].id] = ast.literal_eval(node.value)
    return found


@functools.lru_cache(maxsize=1)
def head_revisions() -> frozenset[str]:
    """Revisions no other revision builds on."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in VERSIONS_DIR.glob("*.py"):
        values = _assigned(path, ("revision", "down_revision"))
        if "revision" not in values:
            continue
        revisions.add(str(values["revision"]))
        down = values.get("down_revision")
        parents.update([down] if isinstance(down, str) else list(down or ()))  # type: ignore[call-overload]
    return frozenset(revisions - parents)


def _current(conn: Connection) -> set[str]:
    if not inspect(conn).has_table(VERSION_TABLE):
        return set()
    return {row[0] for row in conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}"))}


async def is_current(engine: AsyncEngine) -> bool:
    """True when the database is at the latest migration."""
    async with engine.connect() as conn:
        current = await conn.run_sync(_current)
    return current == head_revisions()
