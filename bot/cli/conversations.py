"""`hajibot test conversations [PATH]`: run the conversation stories (tests/conversations/README.md)."""
from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

import click

from bot.cli.context import CliContext, pass_cli

DEFAULT_STORIES = Path("tests") / "conversations" / "stories"


@click.group("test")
def test_group() -> None:
    """Uji percakapan dari data."""


@test_group.command("conversations")
@click.argument("path", required=False, type=click.Path(exists=True, path_type=Path))
@click.option("--category", "categories", multiple=True, help="Hanya kategori ini (boleh berulang)")
@click.option("--name", "name_part", default="", help="Hanya cerita yang namanya memuat teks ini")
@click.option("--verbose", "-v", is_flag=True, help="Tampilkan percakapan cerita yang lulus juga")
@click.option("--exitfirst", "-x", is_flag=True, help="Berhenti pada cerita pertama yang gagal")
@pass_cli
def conversations_cmd(cli: CliContext, path: Path | None, categories: tuple[str, ...], name_part: str,
                      verbose: bool, exitfirst: bool) -> None:
    """Jalankan cerita percakapan (YAML) pada pipeline sungguhan; kode keluar 1 bila ada yang gagal.

    The database is a fresh SQLite file per story, or PostgreSQL when HAJIBOT_TEST_DATABASE_URL is set."""
    from bot.stories.model import StoryFormatError, load_stories
    from bot.stories.report import failure_detail, story_line, summary
    from bot.stories.runner import run_story
    from bot.stories.world import World

    logging.basicConfig(level=logging.ERROR)
    path = path or _default_path(cli)
    try:
        stories = load_stories(path)
    except StoryFormatError as exc:
        click.echo(f"story format error: {exc}", err=True)
        sys.exit(2)
    stories = [s for s in stories if (not categories or s.category in categories) and name_part in s.name]
    if not stories:
        click.echo("no stories selected", err=True)
        sys.exit(2)
    world = World.create(cli.settings)
    click.echo(f"{len(stories)} stories, database {world.database_kind}")

    async def run_all() -> list:
        results = []
        for number, story in enumerate(stories, 1):
            result = await run_story(world, story, number)
            click.echo(story_line(result))
            if not result.passed:
                click.echo(failure_detail(result))
            elif verbose:
                click.echo(result.transcript())
            results.append(result)
            if exitfirst and not result.passed:
                break
        return results

    try:
        results = asyncio.run(run_all())
    finally:
        world.close()
    click.echo(summary(results))
    sys.exit(0 if all(r.passed for r in results) else 1)


def _default_path(cli: CliContext) -> Path:
    """tests/conversations/stories under the current directory, else next to the config file."""
    if DEFAULT_STORIES.is_dir():
        return DEFAULT_STORIES
    return cli.settings.base_dir / DEFAULT_STORIES


COMMANDS = [test_group]
