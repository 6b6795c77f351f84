"""Shared fixtures: a migrated database (SQLite by default, PostgreSQL when HAJIBOT_TEST_DATABASE_URL is
set), settings for a temporary base directory, the assembled services and a web client."""
from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bot.config import Settings, load_settings
from storage.migrate import upgrade
from storage.models import Base

REPO = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("HAJIBOT_TEST_DATABASE_URL", "")


def pytest_report_header(config: pytest.Config) -> str:
    return f"hajibot test database: {'PostgreSQL' if PG_URL else 'SQLite'}"


@pytest.fixture(scope="session")
def nlu_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One trained NLU model shared by the whole session (the cache is keyed by the data's hash)."""
    return tmp_path_factory.mktemp("nlu-cache")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("db-template") / "template.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_migrated() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session (so parallel runs never collide), migrated."""
    base = make_url(PG_URL)
    name = f"hajibot_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"

    async def admin(statement: str) -> None:
        engine = create_async_engine(base, isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            await conn.execute(text(statement))
        await engine.dispose()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    url = base.set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    yield url
    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def truncate_all(url: str) -> None:
    engine = create_async_engine(url)
    names = ", ".join(t.name for t in Base.metadata.sorted_tables)
    async with engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    await engine.dispose()


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database for one test."""
    if PG_URL:
        url = request.getfixturevalue("pg_migrated")
        asyncio.run(truncate_all(url))
        yield url
    else:
        template = request.getfixturevalue("sqlite_template")
        path = tmp_path / "hajibot.db"
        shutil.copy(template, path)
        yield f"sqlite+aiosqlite:///{path}"


def write_config(base: Path, overrides: dict[str, Any] | None = None) -> Path:
    """Write a config.yml into `base` (pointing at the repo's data files) and return its path."""
    config: dict[str, Any] = yaml.safe_load((REPO / "config.yml").read_text(encoding="utf-8"))
    config["nlu"]["data_dir"] = str(REPO / "nlu" / "data")
    config.setdefault("dialogue", {})
    for key in ("flows_dir", "responses_dir", "rules_dir"):
        config["dialogue"][key] = str(REPO / "dialogues" / key.split("_")[0])
    for section, values in (overrides or {}).items():
        if isinstance(values, dict):
            config.setdefault(section, {}).update(values)
        else:
            config[section] = values
    path = base / "config.yml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture
def make_settings(tmp_path: Path, database_url: str, nlu_cache_dir: Path):  # type: ignore[no-untyped-def]
    """Factory: settings on the test database, with optional config overrides and extra env."""

    def make(overrides: dict[str, Any] | None = None, env: dict[str, str] | None = None) -> Settings:
        merged = {"nlu": {"cache_dir": str(nlu_cache_dir)}, **(overrides or {})}
        if "nlu" in (overrides or {}):
            merged["nlu"] = {"cache_dir": str(nlu_cache_dir), **overrides["nlu"]}  # type: ignore[index]
        path = write_config(tmp_path, merged)
        return load_settings(path, env={"HAJIBOT_DATABASE_URL": database_url, **(env or {})})

    return make


@pytest.fixture
def settings(make_settings) -> Settings:  # type: ignore[no-untyped-def]
    return make_settings()


@pytest.fixture
async def services(settings: Settings) -> AsyncIterator[Any]:
    from bot.services import build_services

    built = await build_services(settings)
    try:
        yield built
    finally:
        await built.close()


@pytest.fixture
async def demo_services(services: Any) -> Any:
    """Services with the demo registry loaded."""
    from storage.demo import seed_demo

    async with services.db.session() as session:
        await seed_demo(session)
    return services


@pytest.fixture(autouse=True)
def no_background_ocr(monkeypatch: pytest.MonkeyPatch) -> None:
    """Servers started by tests do not read KTP/KK photos in the background (it would compete for the worker
    pool with the test's own document checks); OCR tests call DocumentReader.run_until_idle()."""
    from bot.docread import job

    monkeypatch.setattr(job, "START_DELAY_SECONDS", 24 * 3600.0)


@pytest.fixture
async def client(demo_services: Any, aiohttp_client: Any) -> Any:
    """An aiohttp test client on the full app, with demo data."""
    from bot.app import create_app

    return await aiohttp_client(create_app(demo_services))


def chat_cookies(client: Any, user_id: str) -> dict[str, str]:
    """The web chat session cookie a browser of `user_id`'s conversation holds (signed with the app's key)."""
    from bot.channels.webchat import WEBCHAT_KEY
    from bot.channels.webchat_session import COOKIE_NAME

    return {COOKIE_NAME: client.app[WEBCHAT_KEY].sessions.sign(user_id)}


class WebChat:
    """Drives the web chat endpoint like a pilgrim's browser would. The conversation comes from the signed
    session cookie; the helper signs one for `user_id` with the server's key (as the browser would hold it)."""

    def __init__(self, client: Any, user_id: str = "pilgrim-1") -> None:
        self.client = client
        self.user_id = user_id
        self.cookies = chat_cookies(client, user_id)

    async def say(self, text: str = "", attachments: list[dict[str, str]] | None = None,
                  message_id: str | None = None) -> list[dict[str, Any]]:
        body: dict[str, Any] = {"text": text, "attachments": attachments or []}
        if message_id is not None:
            body["message_id"] = message_id
        response = await self.client.post("/webchat/messages", json=body, cookies=self.cookies)
        assert response.status == 200, await response.text()
        return (await response.json())["messages"]

    async def say_text(self, text: str = "", **kwargs: Any) -> str:
        """All reply texts of one message joined, for substring assertions."""
        return "\n".join(m["text"] for m in await self.say(text, **kwargs))

    async def poll(self, after: int = 0) -> list[dict[str, Any]]:
        """The conversation as the page loads it (after=0: the latest messages, both sides)."""
        response = await self.client.get("/webchat/messages", params={"after": str(after)}, cookies=self.cookies)
        assert response.status == 200, await response.text()
        return (await response.json())["messages"]


@pytest.fixture
def webchat(client: Any) -> WebChat:
    return WebChat(client)
