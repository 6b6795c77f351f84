"""`hajibot nlu rasa-setup | rasa-train | rasa-serve`: Rasa Open Source as an external NLU server."""
from __future__ import annotations

import os
import sys
from pathlib import Path
from urllib.parse import urlparse

import click

from bot.cli.context import CliContext, pass_cli


def _paths(ctx: CliContext) -> tuple[Path, Path, Path, Path]:
    """(venv, data_dir, model_dir, work_dir) resolved from the nlu settings."""
    from nlu.rasa.env import venv_dir

    nlu = ctx.settings.config.nlu
    return (venv_dir(nlu.rasa_venv), ctx.settings.path(nlu.data_dir), ctx.settings.path(nlu.rasa_model_dir),
            ctx.settings.path(nlu.rasa_work_dir))


@click.command("rasa-setup")
@click.option("--python", "python", default=None, help="Interpreter for Rasa's venv (3.8-3.10); default nlu.rasa_python")
@click.option("--force", is_flag=True, help="Reinstall even when the right version is there")
@pass_cli
def rasa_setup(ctx: CliContext, python: str | None, force: bool) -> None:
    """Create Rasa's own virtualenv and install rasa into it (skipped when already installed)."""
    from nlu.rasa.setup import RasaSetupError, ensure_rasa

    nlu = ctx.settings.config.nlu
    venv = _paths(ctx)[0]
    try:
        ensure_rasa(python or nlu.rasa_python, venv, nlu.rasa_version, echo=click.echo, force=force)
    except RasaSetupError as exc:
        click.echo(f"rasa-setup failed: {exc}", err=True)
        sys.exit(1)


@click.command("rasa-train")
@click.option("--force", is_flag=True, help="Train even when the data and config are unchanged")
@pass_cli
def rasa_train(ctx: CliContext, force: bool) -> None:
    """Train a Rasa NLU model on nlu/data (only when data or config changed)."""
    from nlu.rasa.project import RasaTrainError, train

    venv, data_dir, model_dir, work_dir = _paths(ctx)
    try:
        train(venv, data_dir, model_dir, work_dir, force=force, echo=click.echo)
    except RasaTrainError as exc:
        click.echo(f"rasa-train failed: {exc}", err=True)
        sys.exit(1)


@click.command("rasa-serve")
@click.option("--model", "model", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Model archive; default: the one trained on the current data")
@click.option("--port", type=int, default=None, help="Default: the port of nlu.rasa_url")
@click.option("--host", default=None, help="Default: the host of nlu.rasa_url")
@pass_cli
def rasa_serve(ctx: CliContext, model: Path | None, port: int | None, host: str | None) -> None:
    """Run the Rasa HTTP API (`rasa run --enable-api`) in the foreground."""
    from nlu.rasa.env import rasa_env, venv_bin
    from nlu.rasa.project import current_model, latest_model
    from nlu.rasa.server import serve_command

    venv, data_dir, model_dir, _ = _paths(ctx)
    if model is None:
        model = current_model(data_dir, model_dir)
        if model is None:
            model = latest_model(model_dir)
            if model is None:
                click.echo("no Rasa model: run `hajibot nlu rasa-train` first", err=True)
                sys.exit(1)
            click.echo(f"warning: data or config changed since {model.name} was trained", err=True)
    if not venv_bin(venv, "rasa").exists():
        click.echo(f"rasa not installed in {venv}: run `hajibot nlu rasa-setup` first", err=True)
        sys.exit(1)
    url = urlparse(ctx.settings.config.nlu.rasa_url)
    cmd = serve_command(venv, model.resolve(), port or url.port or 5005, host or url.hostname or "127.0.0.1")
    click.echo("$ " + " ".join(cmd))
    os.execve(cmd[0], cmd, rasa_env(venv))


COMMANDS: list[click.Command] = [rasa_setup, rasa_train, rasa_serve]
