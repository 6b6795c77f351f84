"""Fast tests of the Rasa project writer, fingerprinting and setup helpers (no Rasa needed)."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from nlu.rasa.env import rasa_env
from nlu.rasa.project import (
    CONFIG_PATH, RasaTrainError, current_model, fingerprint, model_path, nlu_files, train, training_inputs,
    write_project,
)
from nlu.rasa.server import serve_command

NLU = """version: "3.1"
nlu:
- intent: greet
  examples: |
    - halo
- intent: check_porsi
  examples: |
    - cek porsi [0123456789](porsi_number)
"""
FAQ = """faq:
- key: paspor
  questions:
    - cara bikin paspor (haji)
  answer: Paspor dibuat di kantor imigrasi.
"""


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    (d / "lexicons").mkdir(parents=True)
    (d / "nlu.yml").write_text(NLU, encoding="utf-8")
    (d / "faq.yml").write_text(FAQ, encoding="utf-8")
    (d / "lexicons" / "slang.yml").write_text("words: [a, b]\n", encoding="utf-8")
    (d / "broken.yml").write_text(": : :\n", encoding="utf-8")
    return d


def test_only_nlu_files_and_faq_are_inputs(data_dir: Path) -> None:
    assert [p.name for p in nlu_files(data_dir)] == ["nlu.yml"]
    assert [p.name for p in training_inputs(data_dir)] == ["nlu.yml", "faq.yml"]


def test_fingerprint_follows_data(data_dir: Path) -> None:
    files = training_inputs(data_dir)
    before = fingerprint(CONFIG_PATH, data_dir, files)
    assert fingerprint(CONFIG_PATH, data_dir, files) == before
    (data_dir / "lexicons" / "slang.yml").write_text("words: [c]\n", encoding="utf-8")
    assert fingerprint(CONFIG_PATH, data_dir, files) == before  # not a training input
    (data_dir / "faq.yml").write_text(FAQ.replace("imigrasi", "Imigrasi"), encoding="utf-8")
    assert fingerprint(CONFIG_PATH, data_dir, files) != before
    assert fingerprint(CONFIG_PATH, data_dir, files, version="9.9") != fingerprint(CONFIG_PATH, data_dir, files)


def test_write_project_layout(data_dir: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    write_project(work, data_dir, training_inputs(data_dir))
    assert (work / "config.yml").read_text() == CONFIG_PATH.read_text()
    assert sorted(p.name for p in (work / "data").iterdir()) == ["faq_retrieval.yml", "nlu.yml"]
    domain = yaml.safe_load((work / "domain.yml").read_text())
    assert domain["intents"] == ["check_porsi", "faq", "greet"]
    assert "porsi_number" in domain["entities"]
    assert domain["responses"] == {"utter_faq/paspor": [{"text": "Paspor dibuat di kantor imigrasi."}]}
    faq = yaml.safe_load((work / "data" / "faq_retrieval.yml").read_text())
    assert faq["nlu"] == [{"intent": "faq/paspor", "examples": "- cara bikin paspor  haji\n"}]


def test_config_pipeline_is_offline_and_has_the_parts() -> None:
    config = yaml.safe_load(CONFIG_PATH.read_text())
    names = [c["name"] for c in config["pipeline"]]
    for needed in ("WhitespaceTokenizer", "RegexFeaturizer", "LexicalSyntacticFeaturizer", "CountVectorsFeaturizer",
                   "DIETClassifier", "EntitySynonymMapper", "FallbackClassifier", "ResponseSelector"):
        assert needed in names
    assert not {"SpacyNLP", "MitieNLP", "LanguageModelFeaturizer", "ConveRTFeaturizer"} & set(names)
    char = [c for c in config["pipeline"] if c.get("analyzer") == "char_wb"][0]
    assert (char["min_ngram"], char["max_ngram"]) == (1, 4)


def test_train_skips_when_model_exists_and_fails_clearly_without_rasa(data_dir: Path, tmp_path: Path) -> None:
    models = tmp_path / "models"
    fp = fingerprint(CONFIG_PATH, data_dir, training_inputs(data_dir))
    models.mkdir()
    model_path(models, fp).write_bytes(b"fake")
    report = train(tmp_path / "no-venv", data_dir, models, tmp_path / "work", echo=lambda _: None)
    assert not report.trained_now and report.model == model_path(models, fp)
    assert current_model(data_dir, models) == report.model
    with pytest.raises(RasaTrainError, match="rasa-setup"):
        train(tmp_path / "no-venv", data_dir, models, tmp_path / "work", force=True, echo=lambda _: None)
    with pytest.raises(RasaTrainError, match="no Rasa NLU training files"):
        train(tmp_path / "no-venv", tmp_path / "empty", models, tmp_path / "work", echo=lambda _: None)


def test_subprocess_env_is_offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PYTHONPATH", "/somewhere")
    env = rasa_env(tmp_path / "venv")
    assert env["RASA_TELEMETRY_ENABLED"] == "false"
    assert env["HF_HUB_OFFLINE"] == "1" and env["TFHUB_OFFLINE"] == "1"
    assert "PYTHONPATH" not in env
    assert env["PATH"].startswith(str(tmp_path / "venv" / "bin"))


def test_serve_command_binds_loopback(tmp_path: Path) -> None:
    cmd = serve_command(tmp_path / "venv", tmp_path / "m.tar.gz", 5099)
    assert cmd[1:3] == ["run", "--enable-api"]
    assert cmd[cmd.index("--interface") + 1] == "127.0.0.1" and cmd[cmd.index("--port") + 1] == "5099"


def test_prune_keeps_newest(tmp_path: Path) -> None:
    import os

    from nlu.rasa.project import prune_models

    for i in range(4):
        path = tmp_path / f"nlu-{i}.tar.gz"
        path.write_bytes(b"x")
        os.utime(path, (1000 + i, 1000 + i))
    removed = prune_models(tmp_path, keep=2)
    assert sorted(p.name for p in removed) == ["nlu-0.tar.gz", "nlu-1.tar.gz"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nlu-2.tar.gz", "nlu-3.tar.gz"]


def test_find_python(tmp_path: Path) -> None:
    import sys

    from nlu.rasa.setup import RasaSetupError, find_python

    assert find_python(sys.executable) == sys.executable
    try:
        found = find_python(str(tmp_path / "nope"))
    except RasaSetupError as exc:
        assert "nlu.rasa_python" in str(exc)
    else:
        assert Path(found).name.startswith("python3.")
