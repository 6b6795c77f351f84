"""Out-of-scope rejection and several questions in one message (issue 12, items 8-9)."""
from __future__ import annotations

from pathlib import Path

import pytest

from nlu.builtin import BuiltinNLU
from nlu.evaluation import evaluate, load_rasa_examples
from nlu.lexicon import load_lexicons
from nlu.split import split_questions
from tests.nlu.conftest import DATA_DIR

HELDOUT_V2 = Path(__file__).resolve().parents[2] / "nlu" / "heldout" / "heldout_v2.yml"


def test_heldout_v2_targets(builtin_nlu: BuiltinNLU) -> None:
    """The held-out set v2 is never tuned on; this only guards the reported figures against regressions."""
    examples = load_rasa_examples(HELDOUT_V2)
    scope = evaluate(builtin_nlu.parse_sync, examples)["scope"]
    assert scope["out_of_scope"] >= 100 and scope["in_domain"] + scope["out_of_scope"] >= 300
    assert scope["in_domain_accuracy"] >= 0.95, scope
    assert scope["oos_false_accept_rate"] <= 0.05, scope


def test_heldout_v2_is_disjoint_from_training() -> None:
    train = {t.lower().strip() for t, _, _ in load_rasa_examples(DATA_DIR)}
    assert [t for t, _, _ in load_rasa_examples(HELDOUT_V2) if t.lower().strip() in train] == []


@pytest.mark.parametrize("text", ["harga cabe naik trs, gmn nih", "pesan tiket umroh", "cuaco bisuak paneh?",
                                  "skor persib semalam", "urus skck di polres", "setel alarm jam 4"])
def test_everyday_topics_are_out_of_scope(builtin_nlu: BuiltinNLU, text: str) -> None:
    assert builtin_nlu.parse_sync(text)["intent"]["name"] in ("out_of_scope", "nlu_fallback")


@pytest.mark.parametrize("text, intent", [("brp biaya haji skrg", "ask_cost"), ("harga pelunasan haji brp", "ask_cost"),
                                          ("paspor haji buatnya dimana", "faq"), ("kantor kemenag buka jam brp", "ask_office")])
def test_hajj_questions_with_everyday_words_stay_hajj(builtin_nlu: BuiltinNLU, text: str, intent: str) -> None:
    assert builtin_nlu.parse_sync(text)["intent"]["name"] == intent


@pytest.mark.parametrize("text, parts", [
    ("brp biaya haji skrg? trs kantor dmn? jam brp buka?", ["brp biaya haji skrg", "kantor dmn", "jam brp buka"]),
    ("berapa biaya haji dan kapan jadwal pelunasan pak", ["berapa biaya haji", "kapan jadwal pelunasan pak"]),
    ("pembatalan dan pelimpahan bedanya apa", ["pembatalan dan pelimpahan bedanya apa"]),
    ("bapak meninggal 3 bulan lalu, porsinya gmn", ["bapak meninggal 3 bulan lalu, porsinya gmn"]),
    ("setoran Rp25.000.000 kan pak?", ["setoran Rp25.000.000 kan pak"]),
])
def test_split_questions(text: str, parts: list[str]) -> None:
    assert split_questions(text, load_lexicons(DATA_DIR / "lexicons")) == parts


def test_parse_gives_parts_only_for_several_questions(builtin_nlu: BuiltinNLU) -> None:
    result = builtin_nlu.parse_sync("brp biaya haji skrg? trs kantor dmn?")
    assert [(p["text"], p["intent"]["name"]) for p in result["parts"]] == [
        ("brp biaya haji skrg", "ask_cost"), ("kantor dmn", "ask_office")]
    assert "parts" not in builtin_nlu.parse_sync("brp biaya haji skrg?")
