"""One story world per test session: the trained NLU (shared with the other tests' cache), the dialogue
engine and a database template; SQLite, or PostgreSQL when HAJIBOT_TEST_DATABASE_URL is set."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.config import Settings, load_settings
from bot.stories.world import World
from tests.conftest import PG_URL, write_config

STORIES_DIR = Path(__file__).resolve().parent / "stories"


@pytest.fixture(scope="session")
def story_settings(tmp_path_factory: pytest.TempPathFactory, nlu_cache_dir: Path) -> Settings:
    base = tmp_path_factory.mktemp("stories-config")
    return load_settings(write_config(base, {"nlu": {"cache_dir": str(nlu_cache_dir)}}), env={})


@pytest.fixture(scope="session")
def story_world(story_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    world = World.create(story_settings, tmp_path_factory.mktemp("stories"), pg_base_url=PG_URL)
    try:
        yield world
    finally:
        world.close()
