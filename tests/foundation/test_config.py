"""Config validation: one clear line naming the key, exit code 2, no traceback."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bot.config import ConfigError, load_settings

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "config.yml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def base_config() -> dict:
    return yaml.safe_load((REPO / "config.yml").read_text(encoding="utf-8"))


def test_repo_config_is_valid() -> None:
    settings = load_settings(REPO / "config.yml", env={})
    assert settings.config.office.kab_kota == "Kota Bukittinggi"
    assert settings.database_url.startswith("sqlite+aiosqlite:////")


def test_missing_key_is_named(tmp_path: Path) -> None:
    data = base_config()
    del data["office"]["name"]
    with pytest.raises(ConfigError, match=r"missing key 'office.name'"):
        load_settings(write(tmp_path, data), env={})


def test_unknown_and_invalid_keys_are_named(tmp_path: Path) -> None:
    data = base_config()
    data["server"]["prot"] = 1
    with pytest.raises(ConfigError, match=r"unknown key 'server.prot'"):
        load_settings(write(tmp_path, data), env={})
    data = base_config()
    data["server"]["port"] = "banyak"
    with pytest.raises(ConfigError, match=r"invalid value for 'server.port'"):
        load_settings(write(tmp_path, data), env={})


def test_secrets_come_from_environment(tmp_path: Path) -> None:
    data = base_config()
    data["channels"]["telegram"]["enabled"] = True
    path = write(tmp_path, data)
    with pytest.raises(ConfigError, match="HAJIBOT_TELEGRAM_TOKEN"):
        load_settings(path, env={})
    settings = load_settings(path, env={"HAJIBOT_TELEGRAM_TOKEN": "123:abc",
                                        "HAJIBOT_DATABASE_URL": "postgresql+asyncpg://u@h/db"})
    assert settings.secrets.telegram_token == "123:abc"
    assert settings.database_url == "postgresql+asyncpg://u@h/db"


def test_invalid_yaml_reports_line(tmp_path: Path) -> None:
    path = tmp_path / "config.yml"
    path.write_text("office:\n  name: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(path, env={})


def test_cli_exits_2_with_one_line(tmp_path: Path) -> None:
    data = base_config()
    del data["office"]["phone"]
    path = write(tmp_path, data)
    proc = subprocess.run([sys.executable, "-c", "from bot.cli import main; main()", "--config", str(path), "init"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines == [f"config error: {path}: missing key 'office.phone'"]
    assert "Traceback" not in proc.stderr
