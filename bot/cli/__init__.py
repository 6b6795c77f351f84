"""`hajibot` command line. Each command group lives in its own module of this package."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from bot.config import DEFAULT_CONFIG_PATH, ConfigError, Settings, load_settings


class CliContext:
    """Holds the --config path; settings are loaded (and validated) on first use."""

    def __init__(self, config_path: str) -> None:
        self.config_path = config_path
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            try:
                self._settings = load_settings(Path(self.config_path))
            except ConfigError as exc:
                click.echo(f"config error: {exc}", err=True)
                sys.exit(2)
        return self._settings


pass_cli = click.make_pass_decorator(CliContext)


@click.group()
@click.option("--config", "config_path", default=DEFAULT_CONFIG_PATH, show_default=True,
              envvar="HAJIBOT_CONFIG", help="Path to config.yml")
@click.pass_context
def cli(ctx: click.Context, config_path: str) -> None:
    """Asisten layanan haji (hajibot)."""
    ctx.obj = CliContext(config_path)


def _register() -> None:
    from bot.cli import core, nlu, rasa, cases, staff, telegram, broadcast, privacy, conversations, report, updates

    for module in (core, nlu, cases, staff, telegram, broadcast, privacy, conversations, report, updates):
        for command in module.COMMANDS:
            cli.add_command(command)
    for command in rasa.COMMANDS:
        nlu.nlu_group.add_command(command)


def main() -> None:
    _register()
    cli(prog_name="hajibot")
