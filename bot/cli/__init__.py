"""`hajibot` command line. Each command group lives in its own module of this package."""
from __future__ import annotations

import click

from bot.cli import broadcast, cases, conversations, core, nlu, privacy, rasa, report, staff, telegram, updates
from bot.cli.context import CliContext
from bot.config import DEFAULT_CONFIG_PATH

__all__ = ["CliContext", "cli", "main"]


@click.group()
@click.option("--config", "config_path", default=DEFAULT_CONFIG_PATH, show_default=True,
              envvar="HAJIBOT_CONFIG", help="Path to config.yml")
@click.pass_context
def cli(ctx: click.Context, config_path: str) -> None:
    """Asisten layanan haji (hajibot)."""
    ctx.obj = CliContext(config_path)


def _register() -> None:
    for module in (core, nlu, cases, staff, telegram, broadcast, privacy, conversations, report, updates):
        for command in module.COMMANDS:
            cli.add_command(command)
    for command in rasa.COMMANDS:
        nlu.nlu_group.add_command(command)


def main() -> None:
    _register()
    cli(prog_name="hajibot")
