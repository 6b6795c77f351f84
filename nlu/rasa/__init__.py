"""Rasa Open Source as an NLU backend: an HTTP client plus tools to install, train and serve Rasa.

Rasa runs in its own Python 3.10 virtualenv as a separate process; nothing here imports rasa.
"""
from __future__ import annotations

from nlu.rasa.client import RasaNLU

__all__ = ["RasaNLU"]
