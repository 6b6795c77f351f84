"""Assembles the service's parts from settings: database, file store, NLU, dialogue engine,
pipeline, channels and outbox. Used by the web server and the CLI alike."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy import text

from bot.channels.registry import build_channels
from bot.config import Settings
from bot.core.channel import ChannelPlugin
from bot.core.outbox import Outbox
from bot.core.pipeline import Pipeline
from bot.nlu_factory import create_nlu
from dialogues.engine import DialogueEngine
from dialogues.errors import DialogueConfigError
from nlu.backend import NluBackend
from storage.db import Database
from storage.files import FileStore
from storage.schema_version import is_current

log = logging.getLogger(__name__)


class StartupError(Exception):
    """The service cannot start; the message is one line for the operator."""


@dataclass
class Services:
    settings: Settings
    db: Database
    files: FileStore
    nlu: NluBackend
    engine: DialogueEngine
    pipeline: Pipeline
    outbox: Outbox
    channels: dict[str, ChannelPlugin] = field(default_factory=dict)

    async def close(self) -> None:
        await self.outbox.stop()
        for channel in self.channels.values():
            await channel.stop()
        await self.nlu.close()
        await self.db.dispose()


async def check_database(db: Database) -> None:
    """Fail with a clear one-line error when the database is down or not migrated."""
    try:
        async with db.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:
        raise StartupError(f"database unreachable ({type(exc).__name__}); check HAJIBOT_DATABASE_URL / "
                           f"storage.database_url") from None
    if not await is_current(db.engine):
        raise StartupError("database schema is not current: run `hajibot init` first")


async def build_services(settings: Settings, channel_names: tuple[str, ...] = ()) -> Services:
    """Create every part. `channel_names` limits which channel plug-ins are built (default: all enabled)."""
    db = Database(settings.database_url, settings.config.storage.pool_size)
    try:
        await check_database(db)
        try:
            files = settings.file_store()
        except ValueError as exc:  # HAJIBOT_FILES_KEY malformed
            raise StartupError(str(exc)) from None
        try:
            engine = DialogueEngine.load(settings.config.dialogue, settings.config.office, settings.base_dir)
        except DialogueConfigError as exc:
            raise StartupError(str(exc)) from None
        nlu = await create_nlu(settings)
    except BaseException:
        await db.dispose()
        raise
    pipeline = Pipeline(db, files, nlu, engine, settings.config.dialogue.max_upload_bytes,
                        settings.config.nlu.max_chars)
    channels = build_channels(settings, pipeline, db, files, channel_names)
    outbox = Outbox(db, channels, settings.config.channels.outbox_max_attempts)
    pipeline.on_outbound = outbox.notify
    return Services(settings, db, files, nlu, engine, pipeline, outbox, channels)
