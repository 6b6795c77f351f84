"""Builds the configured NLU backend (built-in classifier or a remote Rasa server)."""
from __future__ import annotations

from bot.config import Settings
from nlu.backend import NluBackend
from nlu.builtin import BuiltinNLU
from nlu.rasa.client import RasaNLU
from nlu.settings import NluSettings


async def create_nlu(settings: Settings) -> NluBackend:
    """The NLU backend named by `nlu.backend`; the built-in one is trained (or loaded from cache) here."""
    nlu: NluSettings = settings.config.nlu
    if nlu.backend == "rasa":
        return RasaNLU.from_settings(nlu, settings.path(nlu.data_dir))

    return BuiltinNLU.load(settings.path(nlu.data_dir), settings.path(nlu.cache_dir), nlu)
