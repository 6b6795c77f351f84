"""`hajibot nlu ...`: train, parse, evaluate (Rasa commands are added from bot/cli/rasa.py)."""
from __future__ import annotations

import click


@click.group("nlu")
def nlu_group() -> None:
    """Pemahaman bahasa (NLU): latih, uji, evaluasi."""


COMMANDS: list[click.Command] = [nlu_group]
