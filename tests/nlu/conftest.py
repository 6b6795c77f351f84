"""NLU test fixtures: the built-in model is trained once per session into a temporary cache."""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from nlu.builtin import BuiltinNLU
from nlu.settings import NluSettings

REPO = Path(__file__).resolve().parents[2]
DATA_DIR = REPO / "nlu" / "data"
HELDOUT = REPO / "nlu" / "heldout" / "test.yml"


@pytest.fixture(scope="session")
def nlu_settings() -> NluSettings:
    return NluSettings()


LOAD_SECONDS: list[float] = []


@pytest.fixture(scope="session")
def builtin_nlu(nlu_cache_dir: Path, nlu_settings: NluSettings) -> BuiltinNLU:
    started = time.perf_counter()
    nlu = BuiltinNLU.load(DATA_DIR, nlu_cache_dir, nlu_settings)
    LOAD_SECONDS.append(time.perf_counter() - started)
    return nlu


def tiny_data(root: Path) -> Path:
    """A minimal data dir (real lexicons, three intents) that trains in well under a second."""
    data = root / "data"
    shutil.copytree(DATA_DIR / "lexicons", data / "lexicons")
    (data / "nlu.yml").write_text(
        'version: "3.1"\nnlu:\n'
        "- intent: greet\n  examples: |\n    - halo\n    - assalamualaikum\n    - selamat pagi\n"
        "- intent: thanks\n  examples: |\n    - terima kasih\n    - makasih\n    - thanks\n"
        "- intent: ask_cost\n  examples: |\n    - biaya haji berapa\n    - setoran awal berapa\n"
        "    - bara biaya haji\n", encoding="utf-8")
    (data / "faq.yml").write_text(
        "faq:\n- key: sph\n  questions: [apa itu SPH]\n  answer: Bapak/Ibu, SPH adalah bukti pendaftaran.\n",
        encoding="utf-8")
    return data


@pytest.fixture(scope="session")
def parse(builtin_nlu: BuiltinNLU):
    return builtin_nlu.parse_sync
