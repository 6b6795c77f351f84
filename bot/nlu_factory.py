"""Builds the configured NLU backend (built-in classifier or a remote Rasa server)."""
from __future__ import annotations

from nlu.backend import NluBackend
from nlu.settings import NluSettings

from bot.config import Settings


async def create_nlu(settings: Settings) -> NluBackend:
    nlu: NluSettings = settings.config.nlu
    if nlu.backend == "rasa":
        from nlu.rasa.client import RasaNLU

        return RasaNLU(nlu.rasa_url, nlu.rasa_timeout_seconds)
    from nlu.builtin import BuiltinNLU

    return BuiltinNLU.load(settings.path(nlu.data_dir), settings.path(nlu.cache_dir), nlu)
