"""Every conversation story in tests/conversations/stories/*.yml, one test each, on the real pipeline."""
from __future__ import annotations

import pytest

from bot.stories.model import load_stories
from bot.stories.report import failure_detail
from bot.stories.runner import run_story
from bot.stories.world import World
from tests.conversations.conftest import STORIES_DIR

STORIES = load_stories(STORIES_DIR)


@pytest.mark.parametrize("story", STORIES, ids=[s.id for s in STORIES])
async def test_story(story_world: World, story) -> None:  # type: ignore[no-untyped-def]
    result = await run_story(story_world, story)
    assert result.passed, "\n" + failure_detail(result)
