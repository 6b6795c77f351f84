"""Fixtures for ops tests: real server processes on the test database, demo data, a PostgreSQL proxy."""
from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest
from sqlalchemy.engine import make_url

from tests.conftest import PG_URL
from tests.ops.servers import Server, TcpProxy, server_config

needs_postgres = pytest.mark.skipif(not PG_URL, reason="HAJIBOT_TEST_DATABASE_URL not set")


async def _seed(url: str) -> None:
    from storage.db import Database
    from storage.demo import seed_demo

    db = Database(url)
    try:
        async with db.session() as session:
            await seed_demo(session)
    finally:
        await db.dispose()


@pytest.fixture
def seeded_url(database_url: str) -> str:
    """The test database with the demo registry loaded."""
    asyncio.run(_seed(database_url))
    return database_url


@pytest.fixture
def start_server(tmp_path: Path, nlu_cache_dir: Path) -> Iterator[Callable[..., Server]]:
    """Factory: start a `hajibot serve` process; all are stopped at the end of the test."""
    started: list[Server] = []

    def start(database_url: str, name: str, env: dict[str, str] | None = None, **ops: Any) -> Server:
        config = server_config(tmp_path / "srv", nlu_cache_dir, **ops)
        server = Server(config, database_url, name, env).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def pg_proxy(database_url: str) -> Iterator[tuple[TcpProxy, str]]:
    """A cuttable TCP proxy in front of the test PostgreSQL, and the database URL through it."""
    url = make_url(database_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432).start()
    yield proxy, url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    proxy.close()
