"""The production layout of docs/deployment.md, with real CLI processes: config in an `etc` folder, state in a
`var/lib` folder, the code installed (a real wheel of this checkout) or run from the checkout, and the current
directory somewhere else. Start-up errors about the data folders are one line naming the path, exit code 2."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from bot.config import PACKAGE_ROOT, load_settings
from tests.conftest import REPO
from tests.ops.servers import SESSION_KEY, chat_headers, free_port

HAJIBOT = str(REPO / ".venv" / "bin" / "hajibot")
DATA_FOLDERS = {"flows_dir": "dialogues/flows", "responses_dir": "dialogues/responses", "rules_dir": "dialogues/rules"}


# the layout ---------------------------------------------------------------------------------------
def etc_config(root: Path, nlu_cache_dir: Path, edit: dict[str, Any] | None = None) -> Path:
    """`sudo cp config.yml /etc/hajibot/config.yml`, then the edits the guide asks for (state under var/lib)."""
    etc = root / "etc" / "hajibot"
    state = root / "var" / "lib" / "hajibot"
    etc.mkdir(parents=True, exist_ok=True)
    (state / "files").mkdir(parents=True, exist_ok=True)
    config: dict[str, Any] = yaml.safe_load((REPO / "config.yml").read_text(encoding="utf-8"))
    config["server"]["log_json"] = True
    config["storage"]["files_dir"] = str(state / "files")
    config["storage"]["files_key_file"] = str(state / "files.key")
    config["nlu"]["cache_dir"] = str(nlu_cache_dir)  # the guide's /var/lib/hajibot/nlu; shared to train once
    for section, values in (edit or {}).items():
        config.setdefault(section, {}).update(values)
    path = etc / "config.yml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This checkout built as a wheel and installed into a folder (`pip install .` without the dependencies,
    which the test's virtualenv already has): the code and its package data, no checkout around it."""
    build = tmp_path_factory.mktemp("wheel")
    site = tmp_path_factory.mktemp("site-packages")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(build / "dist"), str(REPO)],
                   check=True, cwd=str(build), capture_output=True)
    wheel = next((build / "dist").glob("hajibot-*.whl"))
    subprocess.run([*pip, "install", "--no-deps", "--no-index", "--target", str(site), str(wheel)], check=True,
                   capture_output=True)
    assert not (site / "tests").exists() and (site / "dialogues" / "responses" / "core.yml").is_file()
    return site


def cli_command(installed_site: Path | None) -> tuple[list[str], dict[str, str]]:
    """How to run `hajibot`: the installed copy (PYTHONPATH first, so the checkout's editable install is not
    used) or the checkout's virtualenv entry point."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HAJIBOT_")}
    if installed_site is None:
        return [HAJIBOT], env
    env["PYTHONPATH"] = str(installed_site)
    return [sys.executable, "-c", "from bot.cli import main; main()"], env


def run(cmd: list[str], env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*cmd, *args], env=env, cwd=str(cwd), capture_output=True, text=True, timeout=300)


class Worker:
    """`hajibot --config /etc/hajibot/config.yml serve --port N` as the systemd unit runs it."""

    def __init__(self, cmd: list[str], env: dict[str, str], cwd: Path, config: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = config.parent / f"worker-{self.port}.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen([*cmd, "--config", str(config), "serve", "--host", "127.0.0.1", "--port",
                                          str(self.port)], env=env, cwd=str(cwd), stdout=log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 180.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()[-3000:]
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"worker not ready: {self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@pytest.fixture
def workers() -> Iterator[list[Worker]]:
    started: list[Worker] = []
    yield started
    for worker in started:
        worker.stop()


# the documented layout starts ---------------------------------------------------------------------
@pytest.mark.parametrize("install", ["wheel", "checkout"])
def test_guide_layout_starts_with_config_in_etc_and_cwd_elsewhere(
        install: str, request: pytest.FixtureRequest, tmp_path: Path, database_url: str, nlu_cache_dir: Path,
        workers: list[Worker]) -> None:
    site = request.getfixturevalue("installed") if install == "wheel" else None
    code_root = site if site is not None else REPO
    config = etc_config(tmp_path, nlu_cache_dir)
    elsewhere = tmp_path / "opt"
    elsewhere.mkdir()
    cmd, env = cli_command(site)
    env.update({"HAJIBOT_DATABASE_URL": database_url, "HAJIBOT_SESSION_KEY": SESSION_KEY})

    # settings load in that process: data folders from the code (installed package / checkout), state from var/lib
    probe = run([sys.executable, "-c", "import json, sys; from bot.config import load_settings; "
                 "s = load_settings(sys.argv[1]); d = s.config.dialogue; "
                 "print(json.dumps([str(s.data_dir), d.flows_dir, d.responses_dir, d.rules_dir, s.config.nlu.data_dir,"
                 " str(s.file_store().root)]))", str(config)], env, elsewhere)
    assert probe.returncode == 0, probe.stderr
    data_dir, flows, responses, rules, nlu_data, files_root = yaml.safe_load(probe.stdout)
    assert Path(data_dir).resolve() == code_root.resolve()
    assert [Path(flows), Path(responses), Path(rules), Path(nlu_data)] == [
        Path(data_dir) / "dialogues" / "flows", Path(data_dir) / "dialogues" / "responses",
        Path(data_dir) / "dialogues" / "rules", Path(data_dir) / "nlu" / "data"]
    assert Path(files_root) == tmp_path / "var" / "lib" / "hajibot" / "files"

    # `systemctl start hajibot-migrate`
    init = run(cmd, env, elsewhere, "--config", str(config), "init")
    assert init.returncode == 0, init.stderr
    assert "database is up to date" in init.stdout
    assert (tmp_path / "var" / "lib" / "hajibot" / "files.key").is_file()
    assert not (tmp_path / "etc" / "hajibot" / "dialogues").exists() and not (elsewhere / "var").exists()

    # `systemctl enable --now hajibot.target`: two workers, then a pilgrim writes to each of them
    for _ in range(2):
        workers.append(Worker(cmd, env, elsewhere, config))
    for worker in workers:
        worker.wait_ready()
    for n, worker in enumerate(workers):
        reply = httpx.post(f"{worker.url}/webchat/messages", headers=chat_headers(f"layout-{install}-{n}"),
                           json={"text": "assalamualaikum, ambo nak cek porsi", "message_id": f"layout-{n}"},
                           timeout=30)
        assert reply.status_code == 200, reply.text
        texts = " ".join(m["text"] for m in reply.json()["messages"])
        assert "porsi" in texts.lower(), texts


def test_demo_config_in_the_checkout_uses_the_checkout_data() -> None:
    settings = load_settings(REPO / "config.yml", env={})
    assert settings.data_dir == PACKAGE_ROOT == REPO
    for key, folder in DATA_FOLDERS.items():
        assert Path(getattr(settings.config.dialogue, key)) == REPO / folder
    assert Path(settings.config.nlu.data_dir) == REPO / "nlu" / "data"
    assert settings.database_url == f"sqlite+aiosqlite:///{REPO / 'var' / 'hajibot.db'}"
    assert settings.data_problem() is None


def test_office_copy_of_the_data_is_chosen_by_paths_data_dir_or_the_environment(tmp_path: Path,
                                                                                 nlu_cache_dir: Path) -> None:
    office = tmp_path / "etc" / "hajibot" / "data"
    shutil.copytree(REPO / "dialogues", office / "dialogues", ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    config = etc_config(tmp_path, nlu_cache_dir, {"paths": {"data_dir": "data"}})  # relative to the config folder
    settings = load_settings(config, env={})
    assert settings.data_dir == office
    assert Path(settings.config.dialogue.responses_dir) == office / "dialogues" / "responses"
    # the office copy has no nlu/data: named in one line
    assert settings.data_problem() == (
        f"{office / 'nlu' / 'data'}: directory not found (nlu.data_dir; relative data folders resolve against "
        f"{office}: HAJIBOT_DATA_DIR, else paths.data_dir, else the installed package)")
    assert load_settings(config, env={"HAJIBOT_DATA_DIR": str(REPO)}).data_problem() is None
    absolute = load_settings(etc_config(tmp_path, nlu_cache_dir, {"nlu": {"data_dir": str(REPO / "nlu" / "data")}}),
                             env={})
    assert absolute.config.nlu.data_dir == str(REPO / "nlu" / "data") and absolute.data_problem() is None


# start-up errors are one line ---------------------------------------------------------------------
def assert_one_line(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error")]  # the rest: log records
    assert len(lines) == 1, proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.mark.parametrize("key", sorted(DATA_FOLDERS))
def test_missing_dialogue_folder_is_one_line_from_init_and_serve(key: str, tmp_path: Path, database_url: str,
                                                                 nlu_cache_dir: Path) -> None:
    missing = tmp_path / "kantor" / key
    config = etc_config(tmp_path, nlu_cache_dir, {"dialogue": {key: str(missing)}})
    cmd, env = cli_command(None)
    env.update({"HAJIBOT_DATABASE_URL": database_url, "HAJIBOT_SESSION_KEY": SESSION_KEY})
    for args in (("init",), ("init", "--demo"), ("serve", "--port", str(free_port()))):
        assert_one_line(run(cmd, env, tmp_path, "--config", str(config), *args), str(missing),
                        f"dialogue.{key}", "directory not found")


def test_data_dir_without_the_folders_names_the_first_missing_one(tmp_path: Path, nlu_cache_dir: Path) -> None:
    (tmp_path / "kosong").mkdir()
    config = etc_config(tmp_path, nlu_cache_dir)
    cmd, env = cli_command(None)
    env["HAJIBOT_DATA_DIR"] = str(tmp_path / "kosong")
    assert_one_line(run(cmd, env, tmp_path, "--config", str(config), "init"),
                    str(tmp_path / "kosong" / "dialogues" / "flows"), "HAJIBOT_DATA_DIR")


@pytest.fixture
def office_data(tmp_path: Path) -> Path:
    """An office's editable copy of the shipped data (dialogues and NLU data)."""
    data = tmp_path / "data"
    shutil.copytree(REPO / "dialogues", data / "dialogues", ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    shutil.copytree(REPO / "nlu" / "data", data / "nlu" / "data")
    return data


def test_broken_template_file_is_one_line_naming_file_and_line(tmp_path: Path, office_data: Path, database_url: str,
                                                              nlu_cache_dir: Path) -> None:
    broken = office_data / "dialogues" / "responses" / "core.yml"
    lines = broken.read_text(encoding="utf-8").splitlines()
    lines.insert(3, "sapaan: [Assalamualaikum {nama")  # an office clerk's unfinished edit
    broken.write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = etc_config(tmp_path, nlu_cache_dir, {"paths": {"data_dir": str(office_data)}})
    cmd, env = cli_command(None)
    env.update({"HAJIBOT_DATABASE_URL": database_url, "HAJIBOT_SESSION_KEY": SESSION_KEY})
    for args in (("init",), ("serve", "--port", str(free_port()))):
        assert_one_line(run(cmd, env, tmp_path, "--config", str(config), *args), f"{broken}: line", "invalid YAML")


def test_rules_folder_without_files_is_one_line(tmp_path: Path, office_data: Path, database_url: str,
                                                nlu_cache_dir: Path) -> None:
    rules = office_data / "dialogues" / "rules"
    for path in rules.iterdir():
        path.unlink()
    config = etc_config(tmp_path, nlu_cache_dir, {"paths": {"data_dir": str(office_data)}})
    cmd, env = cli_command(None)
    env.update({"HAJIBOT_DATABASE_URL": database_url, "HAJIBOT_SESSION_KEY": SESSION_KEY})
    for args in (("init",), ("serve", "--port", str(free_port()))):
        assert_one_line(run(cmd, env, tmp_path, "--config", str(config), *args), f"{rules}: no .yml files")


def test_broken_nlu_data_is_one_line_from_serve(tmp_path: Path, office_data: Path, database_url: str) -> None:
    broken = office_data / "nlu" / "data" / "nlu_smalltalk.yml"
    broken.write_text(broken.read_text(encoding="utf-8") + "\n  - intent: [rusak\n", encoding="utf-8")
    config = etc_config(tmp_path, tmp_path / "nlu-cache", {"paths": {"data_dir": str(office_data)}})
    cmd, env = cli_command(None)
    env.update({"HAJIBOT_DATABASE_URL": database_url, "HAJIBOT_SESSION_KEY": SESSION_KEY})
    assert_one_line(run(cmd, env, tmp_path, "--config", str(config), "serve", "--port", str(free_port())),
                    str(broken))
