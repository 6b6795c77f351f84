"""What every `hajibot` command gets: the --config path and the settings loaded from it on first use."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from bot.config import ConfigError, Settings, load_settings


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
