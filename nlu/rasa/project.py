"""Build a Rasa project from our NLU data and train it (only when data or config changed)."""
from __future__ import annotations

import hashlib
import resource
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from nlu.backend import ENTITIES
from nlu.rasa.env import RASA_VERSION, rasa_env, venv_bin
from nlu.rasa.faq import faq_file, faq_training_data

Echo = Callable[[str], None]
CONFIG_PATH = Path(__file__).with_name("config.yml")
MODEL_PREFIX = "nlu-"


class RasaTrainError(RuntimeError):
    """Training failed; the message holds the tail of Rasa's output."""


@dataclass(frozen=True)
class TrainReport:
    model: Path
    fingerprint: str
    trained_now: bool
    seconds: float
    cpu_seconds: float | None = None  # user+sys of the `rasa train` process (less load-dependent)


def _load_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError):
        return None


def nlu_files(data_dir: Path) -> list[Path]:
    """Rasa 3 YAML files holding an `nlu:` section, in a stable order (lexicons etc. are skipped)."""
    files = sorted(p for ext in ("*.yml", "*.yaml") for p in data_dir.rglob(ext))
    return [p for p in files if isinstance(doc := _load_yaml(p), dict) and doc.get("nlu")]


def training_inputs(data_dir: Path) -> list[Path]:
    """Every file the Rasa model is trained from: NLU files plus faq.yml (when present)."""
    faq = faq_file(data_dir)
    return nlu_files(data_dir) + ([faq] if faq else [])


def intents_in(files: list[Path]) -> list[str]:
    names: set[str] = set()
    for path in files:
        for item in _load_yaml(path).get("nlu") or []:
            if isinstance(item, dict) and isinstance(item.get("intent"), str):
                names.add(item["intent"].split("/", 1)[0])
    return sorted(names)


def fingerprint(config: Path, data_dir: Path, files: list[Path], version: str = RASA_VERSION) -> str:
    """Hash of the pipeline config, every training file (name and bytes) and the rasa version."""
    h = hashlib.sha256(f"rasa=={version}\n".encode())
    h.update(config.read_bytes())
    for path in files:
        h.update(b"\0" + str(path.relative_to(data_dir)).encode() + b"\0")
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def model_path(model_dir: Path, fp: str) -> Path:
    return model_dir / f"{MODEL_PREFIX}{fp}.tar.gz"


def write_project(work_dir: Path, data_dir: Path, files: list[Path], config: Path = CONFIG_PATH) -> None:
    """Lay out config.yml, domain.yml and data/ (copies of the NLU files, FAQ as retrieval intents)."""
    data_out = work_dir / "data"
    if data_out.exists():
        shutil.rmtree(data_out)
    data_out.mkdir(parents=True)
    nlu = [p for p in files if p != faq_file(data_dir)]
    for path in nlu:
        target = data_out / path.relative_to(data_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    responses: dict[str, Any] = {}
    faq = faq_file(data_dir)
    if faq is not None and faq in files:
        faq_nlu, responses = faq_training_data(faq)
        (data_out / "faq_retrieval.yml").write_text(
            yaml.safe_dump(faq_nlu, sort_keys=False, allow_unicode=True), encoding="utf-8")
    shutil.copyfile(config, work_dir / "config.yml")
    intents = sorted(set(intents_in(nlu)) | ({"faq"} if responses else set()))
    domain: dict[str, Any] = {"version": "3.1", "intents": intents, "entities": list(ENTITIES)}
    if responses:
        domain["responses"] = responses
    (work_dir / "domain.yml").write_text(yaml.safe_dump(domain, sort_keys=False, allow_unicode=True),
                                         encoding="utf-8")


def prune_models(model_dir: Path, keep: int = 2) -> list[Path]:
    """Delete all but the `keep` newest models (each is ~100 MB); returns what was removed."""
    models = sorted(model_dir.glob(f"{MODEL_PREFIX}*.tar.gz"), key=lambda p: p.stat().st_mtime, reverse=True)
    removed = []
    for old in models[keep:]:
        try:
            old.unlink()
            removed.append(old)
        except OSError:
            pass
    return removed


def latest_model(model_dir: Path) -> Path | None:
    """Most recently trained model in model_dir, if any."""
    models = sorted(model_dir.glob(f"{MODEL_PREFIX}*.tar.gz"), key=lambda p: p.stat().st_mtime)
    return models[-1] if models else None


def current_model(data_dir: Path, model_dir: Path, config: Path = CONFIG_PATH) -> Path | None:
    """The model trained on the current data and config, if it exists."""
    files = training_inputs(data_dir)
    path = model_path(model_dir, fingerprint(config, data_dir, files)) if files else None
    return path if path is not None and path.exists() else None


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def train(venv: Path, data_dir: Path, model_dir: Path, work_dir: Path, *, config: Path = CONFIG_PATH,
          force: bool = False, echo: Echo = print, timeout: float = 3600) -> TrainReport:
    """Run `rasa train nlu` in Rasa's venv unless a model for this exact data+config exists."""
    started = time.monotonic()
    files = training_inputs(data_dir)
    if not nlu_files(data_dir):
        raise RasaTrainError(f"no Rasa NLU training files (with an `nlu:` section) under {data_dir}")
    fp = fingerprint(config, data_dir, files)
    target = model_path(model_dir, fp)
    if target.exists() and not force:
        echo(f"model up to date: {target}")
        return TrainReport(target, fp, False, time.monotonic() - started)
    rasa = venv_bin(venv, "rasa")
    if not rasa.exists():
        raise RasaTrainError(f"rasa not installed in {venv}: run `hajibot nlu rasa-setup` first")
    work_dir.mkdir(parents=True, exist_ok=True)
    model_dir.mkdir(parents=True, exist_ok=True)
    write_project(work_dir, data_dir, files, config)
    echo(f"training Rasa NLU on {len(files)} file(s) from {data_dir} (fingerprint {fp})")
    cmd = [str(rasa), "train", "nlu", "--config", "config.yml", "--nlu", "data",
           "--domain", "domain.yml", "--out", str(model_dir.resolve()),
           "--fixed-model-name", target.name.removesuffix(".tar.gz")]
    log_file = work_dir / "train.log"
    cpu_before = _children_cpu()
    with log_file.open("w", encoding="utf-8") as log:
        proc = subprocess.run(cmd, cwd=work_dir, env=rasa_env(venv), stdout=log,
                              stderr=subprocess.STDOUT, timeout=timeout)
    if proc.returncode != 0 or not target.exists():
        tail = "\n".join(log_file.read_text(encoding="utf-8", errors="replace").splitlines()[-30:])
        raise RasaTrainError(f"rasa train nlu failed ({proc.returncode}); log {log_file}:\n{tail}")
    seconds = time.monotonic() - started
    cpu = _children_cpu() - cpu_before
    echo(f"trained {target} in {seconds:.0f} s ({cpu:.0f} s CPU)")
    for old in prune_models(model_dir):
        echo(f"removed old model {old.name}")
    return TrainReport(target, fp, True, seconds, cpu)
