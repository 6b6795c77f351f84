"""Storage settings: where the database and the document store live."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class StorageSettings(BaseModel):
    """`storage:` section of config.yml. The database URL may be overridden by HAJIBOT_DATABASE_URL."""

    model_config = ConfigDict(extra="forbid")

    database_url: str = Field(
        "sqlite+aiosqlite:///var/hajibot.db",
        description="SQLAlchemy async URL; sqlite+aiosqlite:///path or postgresql+asyncpg://...",
    )
    files_dir: str = Field("var/files", description="Root of the content-addressed document store")
    files_key_file: str = Field(
        "var/files.key", description="File holding the document encryption key(s) when HAJIBOT_FILES_KEY is not "
                                     "set (`hajibot init` creates it, mode 0600); comma-separated keys rotate")
    pool_size: int = Field(10, ge=1, le=200)
