"""`hajibot nlu train | parse | evaluate` through click's CliRunner."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from bot.cli import CliContext
from bot.cli.nlu import nlu_group
from tests.nlu.conftest import DATA_DIR, HELDOUT, REPO, tiny_data


@pytest.fixture()
def config(tmp_path: Path, nlu_cache_dir: Path) -> Path:
    raw = yaml.safe_load((REPO / "config.yml").read_text(encoding="utf-8"))
    raw["nlu"] = {"backend": "builtin", "data_dir": str(DATA_DIR), "cache_dir": str(nlu_cache_dir)}
    raw["channels"] = {"telegram": {"enabled": False}, "whatsapp": {"enabled": False}}
    path = tmp_path / "config.yml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def run(config: Path, *args: str):
    result = CliRunner().invoke(nlu_group, list(args), obj=CliContext(str(config)), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def test_parse_prints_json(config: Path, builtin_nlu) -> None:
    result = run(config, "parse", "ambo nio cek porsi 0300 1234 56 🙏")
    data = json.loads(result.output)
    assert data["text"] == "ambo nio cek porsi 0300 1234 56 🙏"
    assert data["intent"]["name"] == "check_porsi"
    assert data["entities"][0]["value"] == "0300123456"


def test_evaluate_writes_report(config: Path, tmp_path: Path, builtin_nlu) -> None:
    out = tmp_path / "report"
    result = run(config, "evaluate", "--data", str(HELDOUT), "--report", str(out))
    assert "accuracy" in result.output and "p99" in result.output
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["accuracy"] >= 0.95
    assert {"per_intent", "confused_pairs", "entities", "latency_ms", "macro_f1"} <= set(report)
    assert (out / "confusion_matrix.png").stat().st_size > 1000


def test_train(config: Path, tmp_path: Path) -> None:
    raw = yaml.safe_load(config.read_text(encoding="utf-8"))
    raw["nlu"]["cache_dir"] = str(tmp_path / "fresh-cache")
    raw["nlu"]["data_dir"] = str(tiny_data(tmp_path))
    config.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    result = run(config, "train")
    assert "trained on" in result.output
    assert list((tmp_path / "fresh-cache").glob("builtin-*.npz"))


def test_crossval(config: Path, tmp_path: Path) -> None:
    raw = yaml.safe_load(config.read_text(encoding="utf-8"))
    raw["nlu"]["data_dir"] = str(tiny_data(tmp_path))
    config.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    result = run(config, "crossval", "--folds", "2", "--report", str(tmp_path / "cv"))
    assert "accuracy" in result.output
    report = json.loads((tmp_path / "cv" / "crossval.json").read_text(encoding="utf-8"))
    assert report["folds"] == 2 and report["examples"] == 9
