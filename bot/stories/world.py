"""The real parts stories run on. Built once per run: the configured NLU (trained or loaded from its cache),
the dialogue engine and a migrated database template with the demo registry and a staff account. Each story
then gets a fresh database (a copy of the SQLite template, or on PostgreSQL one database per run emptied and
re-seeded per story), its own document store and a Pipeline wired exactly like bot/services.py does."""
from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bot.backoffice.auth import SessionKeys
from bot.backoffice.context import Backoffice
from bot.backoffice.office_rules import OfficeRules
from bot.backoffice.webhooks import Webhooks
from bot.config import Settings
from bot.nlu_factory import create_nlu
from bot.core.outbox import Outbox
from bot.core.pipeline import Pipeline
from bot.services import Services
from dialogues.engine import DialogueEngine
from nlu.backend import NluBackend
from storage.db import Database
from storage.files import FileStore
from storage.migrate import upgrade
from storage.models import Base, StaffUser

PG_ENV = "HAJIBOT_TEST_DATABASE_URL"
STAFF_USERNAME = "petugas"
STAFF_NAME = "Petugas Layanan Haji"


class World:
    """Shared by every story of a run; `close()` removes its temporary files and PostgreSQL database."""

    def __init__(self, settings: Settings, nlu: NluBackend, engine: DialogueEngine, workdir: Path,
                 pg_url: str | None, staff_hash: str, pg_base_url: str = "") -> None:
        self.settings = settings
        self.nlu = nlu
        self.engine = engine
        self.workdir = workdir
        self.pg_url = pg_url
        self.staff_hash = staff_hash
        self.pg_base_url = pg_base_url
        self._counter = 0

    @classmethod
    def create(cls, settings: Settings, workdir: Path | None = None, pg_base_url: str | None = None) -> "World":
        """Load the NLU and engine and prepare the database template (call outside an event loop)."""
        from bot.backoffice.passwords import hash_password

        pg_base_url = pg_base_url if pg_base_url is not None else os.environ.get(PG_ENV, "")
        workdir = workdir or Path(tempfile.mkdtemp(prefix="hajibot-stories-"))
        workdir.mkdir(parents=True, exist_ok=True)
        nlu = asyncio.run(create_nlu(settings))
        engine = DialogueEngine.load(settings.config.dialogue, settings.config.office, settings.base_dir)
        staff_hash = hash_password(uuid.uuid4().hex)  # a real account nobody knows the password of
        pg_url = _create_pg_database(pg_base_url) if pg_base_url else None
        world = cls(settings, nlu, engine, workdir, pg_url, staff_hash, pg_base_url)
        if pg_url:
            upgrade(pg_url)
        else:
            url = world._sqlite_url(world.template_path)
            upgrade(url)
            asyncio.run(world._seed(url))
        return world

    @property
    def template_path(self) -> Path:
        return self.workdir / "template.db"

    @staticmethod
    def _sqlite_url(path: Path) -> str:
        return f"sqlite+aiosqlite:///{path}"

    @property
    def database_kind(self) -> str:
        return "PostgreSQL" if self.pg_url else "SQLite"

    async def fresh_database(self) -> str:
        """A migrated database holding only the demo registry and the staff account."""
        self._counter += 1
        if self.pg_url is None:
            path = self.workdir / f"story-{self._counter}.db"
            shutil.copy(self.template_path, path)
            return self._sqlite_url(path)
        db = Database(self.pg_url)
        try:
            async with db.engine.begin() as conn:  # DELETE: on a few rows far cheaper than TRUNCATE per table
                for table in reversed(Base.metadata.sorted_tables):
                    await conn.execute(table.delete())
            await self._seed_into(db)
        finally:
            await db.dispose()
        return self.pg_url

    async def _seed(self, url: str) -> None:
        db = Database(url)
        try:
            await self._seed_into(db)
        finally:
            await db.dispose()

    async def _seed_into(self, db: Database) -> None:
        from storage.demo import seed_demo

        async with db.session() as session:
            await seed_demo(session)
            session.add(StaffUser(username=STAFF_USERNAME, display_name=STAFF_NAME, role="petugas",
                                  password_hash=self.staff_hash))
            await session.commit()

    def services(self, url: str) -> Services:
        """The service parts of bot/services.py on `url`, sharing this run's NLU and engine. The outbox is
        not started: replies stay in the database, where the story reads them."""
        config = self.settings.config
        db = Database(url, config.storage.pool_size)
        files = FileStore(self.files_dir)
        pipeline = Pipeline(db, files, self.nlu, self.engine, config.dialogue.max_upload_bytes, config.nlu.max_chars)
        outbox = Outbox(db, {}, config.channels.outbox_max_attempts)
        return Services(self.settings, db, files, self.nlu, self.engine, pipeline, outbox)

    @property
    def files_dir(self) -> Path:
        return self.workdir / f"files-{self._counter}"

    def discard(self, url: str) -> None:
        """Remove the story's SQLite file and documents once it has run."""
        if self.pg_url is None:
            Path(url.removeprefix("sqlite+aiosqlite:///")).unlink(missing_ok=True)
        shutil.rmtree(self.files_dir, ignore_errors=True)

    def backoffice(self, services: Services) -> Backoffice:
        """What the back office's handlers get (bot/backoffice/context.py), without the web session key."""
        config = self.settings.config
        return Backoffice(services, config.backoffice, OfficeRules(self.engine.rules, self.engine.tz),
                          SessionKeys(uuid.uuid4().bytes), Webhooks(services.db, config.backoffice, None))

    def close(self) -> None:
        asyncio.run(self.nlu.close())
        if self.pg_url:
            _admin(self.pg_base_url, f'DROP DATABASE IF EXISTS "{make_url(self.pg_url).database}" WITH (FORCE)')
        shutil.rmtree(self.workdir, ignore_errors=True)


def _admin(base_url: str, statement: str) -> None:
    async def run() -> None:
        engine = create_async_engine(make_url(base_url), isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            await conn.execute(text(statement))
        await engine.dispose()

    asyncio.run(run())


def _create_pg_database(base_url: str) -> str:
    base = make_url(base_url)
    name = f"hajibot_stories_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    _admin(base_url, f'CREATE DATABASE "{name}"')
    # a throw-away database: commits need not wait for the disk (stories commit a few times per turn)
    _admin(base_url, f'ALTER DATABASE "{name}" SET synchronous_commit = off')
    return base.set(database=name).render_as_string(hide_password=False)
