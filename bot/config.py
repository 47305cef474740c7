"""Configuration: a TOML file (default in the user's config dir, or --config),
overridden by HOSTSNAP_* environment variables (nested with __, e.g.
HOSTSNAP_SSH__USER). With no file at all, `localhost` still works."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, ClassVar

from platformdirs import user_config_dir
from pydantic import BaseModel, Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from bot.alerts.settings import AlertSettings
from bot.slack.settings import AuthzRule, SlackSettings
from bot.store.db import default_database_url
from collectors.analysis.thresholds import Thresholds
from collectors.jvm import JvmOptions


class ConfigError(Exception):
    """Bad configuration; the message names the file and line."""


def default_config_path() -> Path:
    return Path(user_config_dir("hostsnap")) / "config.toml"


def known_hosts_path(v: str) -> str:
    # an empty path would check no host key at all (asyncssh reads it as "none")
    if not v.strip():
        raise ValueError("known_hosts is empty: host keys would go unchecked; give the "
                         "path of a known_hosts file (it may start empty with "
                         "trust_on_first_use)")
    return v


class SSHSettings(BaseModel):
    user: str | None = None
    key_files: list[str] = Field(default_factory=list)
    #: environment variable or file holding the key passphrase (never inline)
    passphrase_env: str | None = None
    passphrase_file: str | None = None
    use_agent: bool = True
    known_hosts: str = "~/.ssh/known_hosts"
    trust_on_first_use: bool = False
    connect_timeout: float = 5.0
    keepalive_interval: float = 10.0
    retries: int = 2

    @field_validator("known_hosts")
    @classmethod
    def _known_hosts(cls, v: str) -> str:
        return known_hosts_path(v)


class HostEntry(BaseModel):
    name: str
    address: str | None = None  # default: the name
    port: int = Field(default=22, ge=1, le=65535)
    user: str | None = None
    key_file: str | None = None
    known_hosts: str | None = None
    trust_on_first_use: bool | None = None
    jump: str | None = None  # name of another inventory host
    group: str = ""
    labels: dict[str, Any] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not v or any(c.isspace() for c in v) or v.startswith(("@", "-")):
            raise ValueError("host names have no spaces and do not start with @ or -")
        return v

    @field_validator("known_hosts")
    @classmethod
    def _known_hosts(cls, v: str | None) -> str | None:
        return None if v is None else known_hosts_path(v)


class CaptureSettings(BaseModel):
    collectors: list[str] | None = None  # None: every default collector
    concurrency: int = Field(default=10, ge=1, le=200)
    #: overall deadline of one command, all hosts included (seconds)
    deadline: float = 60.0
    max_hosts: int = 50
    timeouts: dict[str, float] = Field(default_factory=dict)


class WatchSettings(BaseModel):
    max_sessions: int = 50
    reconnect_max_backoff: float = 30.0
    #: hosts (names, @group, globs) kept warm by `hostsnap serve` from its start,
    #: and by `hostsnap watch` when it is given no host
    hosts: list[str] = Field(default_factory=list)
    #: seconds between a bot replica's looks at the shared warm holds
    sync_interval: float = Field(default=2.0, gt=0)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="HOSTSNAP_", env_nested_delimiter="__", extra="forbid"
    )
    _toml_file: ClassVar[Path | None] = None

    database_url: str = Field(default_factory=default_database_url)
    ssh: SSHSettings = SSHSettings()
    capture: CaptureSettings = CaptureSettings()
    watch: WatchSettings = WatchSettings()
    jvm: JvmOptions = JvmOptions()
    thresholds: Thresholds = Thresholds()
    hosts: list[HostEntry] = Field(default_factory=list)
    slack: SlackSettings = SlackSettings()
    authz: list[AuthzRule] = Field(default_factory=list)
    alerts: AlertSettings = AlertSettings()
    #: glob patterns of host names that may be contacted without an entry
    allow_patterns: list[str] = Field(default_factory=list)
    #: capture this machine as `localhost` without SSH
    allow_localhost: bool = True
    config_path: str | None = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if cls._toml_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=cls._toml_file))
        return tuple(sources)


def load_settings(path: Path | str | None = None, **overrides: Any) -> Settings:
    """Explicit path > $HOSTSNAP_CONFIG > default path (if it exists) > none."""
    explicit = path or os.environ.get("HOSTSNAP_CONFIG")
    cfg = Path(explicit).expanduser() if explicit else default_config_path()
    if explicit and not cfg.exists():
        raise ConfigError(f"config file {cfg} does not exist")
    toml: Path | None = cfg if cfg.exists() else None
    if toml is not None:
        try:
            tomllib.loads(toml.read_text())
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{toml}: {e}") from e  # message carries line and column
        except OSError as e:
            raise ConfigError(f"{toml}: cannot read: {e.strerror}") from e
    Settings._toml_file = toml
    try:
        s = Settings(**overrides)
    except ValidationError as e:
        raise ConfigError(_explain(e, toml)) from e
    finally:
        Settings._toml_file = None
    s.config_path = str(toml) if toml else None
    names = [h.name for h in s.hosts]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise ConfigError(f"{toml}: host defined twice: {', '.join(sorted(dup))}")
    return s


def _explain(e: ValidationError, toml: Path | None) -> str:
    lines = toml.read_text().splitlines() if toml else []
    msgs = []
    for err in e.errors()[:5]:
        loc = ".".join(str(p) for p in err["loc"])
        where = str(toml) if toml else "environment"
        key = next((str(p) for p in reversed(err["loc"]) if isinstance(p, str)), "")
        for i, line in enumerate(lines, 1):
            if key and line.strip().startswith((key + " ", key + "=", f"[{key}", f"[[{key}")):
                where = f"{toml} line {i}"
                break
        msgs.append(f"{where}: {loc}: {err['msg']}")
    return "; ".join(msgs)
