"""Loads and validates config.yml plus secrets from HAJIBOT_* environment variables.

Each room owns the model of its own section; this module only composes them.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.backoffice.settings import BackofficeSettings
from bot.broadcast.settings import BroadcastSettings
from bot.updates.settings import UpdateSettings
from bot.channels.settings import ChannelSettings
from bot.ops_settings import OpsSettings
from bot.core.requester import SecuritySettings
from dialogues.settings import DialogueSettings, OfficeSettings
from nlu.settings import NluSettings
from storage.settings import StorageSettings

if TYPE_CHECKING:
    from storage.files import FileStore

DEFAULT_CONFIG_PATH = "config.yml"
DATA_DIR_ENV = "HAJIBOT_DATA_DIR"
# Where the `bot`, `dialogues` and `nlu` packages are: the checkout (editable install, demo) or site-packages
# (`pip install .`), which holds the shipped flows, responses, rules and NLU data (package data).
PACKAGE_ROOT = Path(__file__).resolve().parent.parent
# Data folders shipped with the code, as (section, key): relative values resolve against the data directory.
DATA_KEYS: tuple[tuple[str, str], ...] = (
    ("dialogue", "flows_dir"), ("dialogue", "responses_dir"), ("dialogue", "rules_dir"), ("dialogue", "letters_dir"),
    ("nlu", "data_dir"),
)
OPTIONAL_DATA_KEYS = {("dialogue", "letters_dir")}  # an office copy made before letters existed still starts


class ServerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    log_level: str = "INFO"
    log_json: bool = False


class PathSettings(BaseModel):
    """`paths:` section: where the shipped data folders (flows, responses, rules, NLU data) are looked up."""

    model_config = ConfigDict(extra="forbid")

    data_dir: str | None = Field(
        None, description="Base of relative dialogue.*_dir and nlu.data_dir (relative to the config file's folder); "
                          "default: the installed package (or the checkout). HAJIBOT_DATA_DIR overrides it")


class Secrets(BaseModel):
    """Secrets never come from the repo, only from the environment."""

    database_url: str | None = None
    telegram_token: str | None = None
    telegram_webhook_secret: str | None = None
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    session_key: str | None = None
    files_key: str | None = None
    webhook_signing_key: str | None = None
    metrics_token: str | None = None

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "Secrets":
        env = dict(os.environ if env is None else env)
        values = {name: env.get(f"HAJIBOT_{name.upper()}") or None for name in cls.model_fields}
        return cls(**values)


class AppConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    office: OfficeSettings
    server: ServerSettings = ServerSettings()
    storage: StorageSettings = StorageSettings()
    nlu: NluSettings = NluSettings()
    dialogue: DialogueSettings = DialogueSettings()
    channels: ChannelSettings = ChannelSettings()
    backoffice: BackofficeSettings = BackofficeSettings()
    broadcast: BroadcastSettings = BroadcastSettings()
    updates: UpdateSettings = UpdateSettings()  # personal updates after a registry import
    ops: OpsSettings = OpsSettings()
    security: SecuritySettings = SecuritySettings()
    paths: PathSettings = PathSettings()


@dataclass(frozen=True)
class Settings:
    """Everything the service needs at start-up: validated config, secrets and the two base directories.

    `base_dir` (the config file's folder) anchors relative state paths (SQLite file, document store, key file,
    NLU cache); `data_dir` anchors the shipped data folders, which `load_settings` has already made absolute.
    """

    config: AppConfig
    secrets: Secrets
    base_dir: Path
    data_dir: Path = PACKAGE_ROOT

    @property
    def database_url(self) -> str:
        url = self.secrets.database_url or self.config.storage.database_url
        return resolve_sqlite_url(url, self.base_dir)

    def path(self, relative: str) -> Path:
        """Resolve a configured (state) path against the config file's directory."""
        p = Path(relative).expanduser()
        return p if p.is_absolute() else self.base_dir / p

    @property
    def files_key_path(self) -> Path:
        return self.path(self.config.storage.files_key_file)

    def files_key(self) -> str | None:
        """The document key(s): HAJIBOT_FILES_KEY, else the key file `storage.files_key_file` if it exists."""
        if self.secrets.files_key:
            return self.secrets.files_key
        try:
            return self.files_key_path.read_text(encoding="ascii").strip() or None
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"storage.files_key_file: cannot read {self.files_key_path} ({exc})") from None

    def file_store(self) -> FileStore:
        """The document store: the configured directory, encrypted when a key is configured (see files_key)."""
        from storage.files import FileStore

        return FileStore(self.path(self.config.storage.files_dir), self.files_key())

    def serve_problem(self) -> str | None:
        """Why `serve` must not start in this configuration (one line), or None."""
        if not self.database_url.startswith("sqlite") and not self.secrets.session_key:
            return ("environment: missing HAJIBOT_SESSION_KEY (required with PostgreSQL: every worker must sign "
                    "staff sessions with the same key; create one with `hajibot privacy keygen`)")
        return None

    def data_problem(self) -> str | None:
        """The first shipped data folder that is missing (one line naming the path and the key), or None."""
        for section, key in DATA_KEYS:
            folder = Path(getattr(getattr(self.config, section), key))
            if not folder.is_dir() and (section, key) not in OPTIONAL_DATA_KEYS:
                return (f"{folder}: directory not found ({section}.{key}; relative data folders resolve against "
                        f"{self.data_dir}: {DATA_DIR_ENV}, else paths.data_dir, else the installed package)")
        return None


class ConfigError(Exception):
    """A config problem, described in one line naming the key."""


def data_base_dir(config: AppConfig, config_dir: Path, env: dict[str, str]) -> Path:
    """The data directory: HAJIBOT_DATA_DIR, else `paths.data_dir` (relative ones against the config file's
    folder), else the installed package / checkout."""
    configured = env.get(DATA_DIR_ENV) or config.paths.data_dir
    if not configured:
        return PACKAGE_ROOT
    folder = Path(configured).expanduser()
    return folder if folder.is_absolute() else (config_dir / folder).resolve()


def with_data_paths(config: AppConfig, data_dir: Path) -> AppConfig:
    """A copy of `config` whose data folders (DATA_KEYS) are absolute, relative ones taken from `data_dir`."""
    sections: dict[str, dict[str, str]] = {}
    for section, key in DATA_KEYS:
        value = Path(getattr(getattr(config, section), key)).expanduser()
        sections.setdefault(section, {})[key] = str(value if value.is_absolute() else data_dir / value)
    return config.model_copy(update={name: getattr(config, name).model_copy(update=values)
                                     for name, values in sections.items()})


def resolve_sqlite_url(url: str, base_dir: Path) -> str:
    prefix = "sqlite+aiosqlite:///"
    if url.startswith(prefix):
        rest = url[len(prefix):]
        if rest and not rest.startswith("/") and rest != ":memory:":
            return prefix + str((base_dir / rest).resolve())
    return url


def _describe(error: ValidationError, source: str) -> str:
    first = error.errors()[0]
    key = ".".join(str(p) for p in first["loc"]) or "(root)"
    if first["type"] == "missing":
        return f"{source}: missing key '{key}'"
    if first["type"] == "extra_forbidden":
        return f"{source}: unknown key '{key}'"
    return f"{source}: invalid value for '{key}': {first['msg']}"


def load_settings(path: str | Path = DEFAULT_CONFIG_PATH, env: dict[str, str] | None = None) -> Settings:
    """Read, validate and return settings; raises ConfigError with a one-line message."""
    path = Path(path)
    try:
        raw: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}:{where} is not valid YAML") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of sections at the top level")
    try:
        config = AppConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, str(path))) from None
    try:
        secrets = Secrets.from_env(env)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, "environment")) from None
    config_dir = path.resolve().parent
    data_dir = data_base_dir(config, config_dir, dict(os.environ if env is None else env))
    settings = Settings(config=with_data_paths(config, data_dir), secrets=secrets, base_dir=config_dir,
                        data_dir=data_dir)
    _check_required_secrets(settings)
    return settings


def _check_required_secrets(settings: Settings) -> None:
    channels = settings.config.channels
    if channels.telegram.enabled and not settings.secrets.telegram_token:
        raise ConfigError("environment: missing HAJIBOT_TELEGRAM_TOKEN (channels.telegram.enabled is true)")
    if channels.whatsapp.enabled:
        for name in ("twilio_account_sid", "twilio_auth_token"):
            if not getattr(settings.secrets, name):
                raise ConfigError(f"environment: missing HAJIBOT_{name.upper()} (channels.whatsapp.enabled is true)")
