"""Configuration: a TOML file (default in the user's config dir, or --config),
overridden by HOSTSNAP_* environment variables (nested with __, e.g.
HOSTSNAP_SSH__USER). With no file at all, `localhost` still works."""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from pathlib import Path
from typing import Any, ClassVar, get_args

from platformdirs import user_config_dir
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from bot.settings.alerts import AlertSettings
from bot.settings.slack import AuthzRule, SlackSettings
from bot.settings.web import WebSettings
from bot.store.db import DEFAULT_TIMEOUT_S, default_database_url, normalize_url
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
    model_config = ConfigDict(extra="forbid")  # a typo is an error, never a default

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
    model_config = ConfigDict(extra="forbid")  # a typo is an error, never a default

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
    model_config = ConfigDict(extra="forbid")  # a typo is an error, never a default

    collectors: list[str] | None = None  # None: every default collector
    concurrency: int = Field(default=10, ge=1, le=200)
    #: deadline of one host's capture, from when it starts (seconds)
    deadline: float = 60.0
    #: longest wait for one of the `concurrency` slots before a capture gives up
    #: ("not started: N captures ahead"); the wait is not taken from `deadline`
    queue_timeout: float = Field(default=60.0, gt=0)
    max_hosts: int = 50
    timeouts: dict[str, float] = Field(default_factory=dict)
    #: new SSH connections (connect, key exchange, auth, SFTP) set up at once
    #: for captures: 20 handshakes at once hold the bot's event loop for the
    #: fleet's first second, and webhooks wait behind them. Later ones queue
    #: (FIFO). None: 2 in `serve` (its loop also answers Slack and alerts),
    #: `concurrency` on the command line (nothing else waits there)
    connect_concurrency: int | None = Field(default=None, ge=1, le=1000)
    #: worker processes for capture analysis (None: one per CPU; 0: threads in
    #: the bot's process). The environment's HOSTSNAP_WORKERS overrides it.
    workers: int | None = Field(default=None, ge=0, le=256)


class WatchSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a typo is an error, never a default

    max_sessions: int = 50
    reconnect_max_backoff: float = Field(default=30.0, gt=0)
    #: warm-session connection attempts at once (after a mass drop, at start)
    reconnect_concurrency: int = Field(default=10, ge=1, le=1000)
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
    #: seconds any one database use may take (connect, statement, pool
    #: checkout, a locked SQLite); also the deadline of a webhook and of a
    #: Slack command's first answer. Below Alertmanager's 10 s.
    database_timeout: float = Field(default=DEFAULT_TIMEOUT_S, gt=0, le=60)
    jvm: JvmOptions = JvmOptions()
    thresholds: Thresholds = Thresholds()
    hosts: list[HostEntry] = Field(default_factory=list)
    slack: SlackSettings = SlackSettings()
    authz: list[AuthzRule] = Field(default_factory=list)
    alerts: AlertSettings = AlertSettings()
    web: WebSettings = WebSettings()
    #: glob patterns of host names that may be contacted without an entry
    allow_patterns: list[str] = Field(default_factory=list)
    #: capture this machine as `localhost` without SSH
    allow_localhost: bool = True
    config_path: str | None = None

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, v: str) -> str:
        url = normalize_url(v.strip())
        if not url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            scheme = v.split("://", 1)[0] if "://" in v else ""
            what = f"the scheme {scheme!r} is not supported" if scheme else "not a database URL"
            raise ValueError(f"{what}: use postgresql://USER@HOST/DB or sqlite:///PATH")
        return v.strip()

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
    text = ""
    if toml is not None:
        text = _read_config(toml)
        try:
            tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{toml}: {e}") from e  # message carries line and column
    Settings._toml_file = toml
    try:
        s = Settings(**overrides)
    except ValidationError as e:
        raise ConfigError(explain(e, toml, text)) from e
    finally:
        Settings._toml_file = None
    s.config_path = str(toml) if toml else None
    names = [h.name for h in s.hosts]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise ConfigError(f"{toml}: host defined twice: {', '.join(sorted(dup))}")
    return s


def _read_config(toml: Path) -> str:
    try:
        data = toml.read_bytes()
    except OSError as e:
        raise ConfigError(f"{toml}: cannot read: {e.strerror}") from e
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise ConfigError(f"{toml} line {line}: not UTF-8 (byte 0x{data[e.start]:02x}); "
                          f"save the file as UTF-8") from None


def explain(e: ValidationError, toml: Path | None, text: str) -> str:
    """Pydantic's errors as one line: where (file and line, or the environment variable),
    which key, what is wrong, and for a typo the key that was probably meant."""
    lines = toml_key_lines(text)
    msgs = []
    for err in e.errors()[:5]:
        loc = tuple(err["loc"])
        key = str(loc[-1]) if loc else ""
        if err["type"] == "extra_forbidden":
            msg = f"unknown key `{key}`"
            near = did_you_mean(key, _fields_at(Settings, loc[:-1]))
            msg += f" (did you mean `{near}`?)" if near else ""
        elif loc[:1] == ("authz",) and err["type"] in ("missing", "too_short"):
            msg = (f"`{key}` must name at least one {_AUTHZ_WHAT.get(key, 'entry')}: a rule "
                   f"that names no one is refused, not read as everyone (write \"*\" for any)")
        elif err["type"] == "missing":
            msg = f"`{key}` is required"
        else:
            msg = err["msg"].removeprefix("Value error, ")
        msgs.append(f"{_where(loc, toml, lines)}: {_dotted(loc)}: {msg}")
    more = len(e.errors()) - len(msgs)
    return "; ".join(msgs) + (f"; and {more} more" if more > 0 else "")


_AUTHZ_WHAT = {"groups": "host group", "channels": "channel id",
               "user_groups": "user or user group id"}


def _dotted(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc)


def _where(loc: tuple[Any, ...], toml: Path | None, lines: dict[tuple[Any, ...], int]) -> str:
    if loc in lines:
        return f"{toml} line {lines[loc]}"
    env = "HOSTSNAP_" + "__".join(str(p) for p in loc if not isinstance(p, int)).upper()
    if any(k.upper() == env for k in os.environ):
        return f"environment variable {env}"
    for n in range(len(loc) - 1, 0, -1):  # a missing key: its table's header
        if loc[:n] in lines:
            return f"{toml} line {lines[loc[:n]]}"
    return str(toml) if toml else "configuration"


def did_you_mean(key: str, options: list[str]) -> str | None:
    if not options:
        return None
    close = difflib.get_close_matches(key, options, n=1, cutoff=0.6)
    if close:
        return close[0]
    prefixed = [o for o in options if o.startswith(key) or key.startswith(o)]
    return prefixed[0] if len(key) >= 3 and prefixed else None


def _fields_at(model: type[BaseModel], path: tuple[Any, ...]) -> list[str]:
    """The keys the config model at `path` (as pydantic reports locations) accepts."""
    cls: type[BaseModel] | None = model
    for part in path:
        if isinstance(part, int) or cls is None:
            continue
        field = cls.model_fields.get(str(part))
        cls = _model_in(field.annotation) if field else None
    return sorted(cls.model_fields) if cls is not None else []


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


_TABLE = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?$")
_PART = r"""(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')"""
_KEY = re.compile(rf"^\s*({_PART}(?:\s*\.\s*{_PART})*)\s*=")


def toml_key_lines(text: str) -> dict[tuple[Any, ...], int]:
    """Line of every table header and key, by the location pydantic would report
    (`[[authz]]` tables get their index). Approximate in multi-line values, which
    only matters for where an error is said to be."""
    out: dict[tuple[Any, ...], int] = {}
    counts: dict[tuple[str, ...], int] = {}
    table: tuple[Any, ...] = ()
    depth = 0
    for n, raw in enumerate(text.splitlines(), 1):
        line = re.sub(r"\"(?:[^\"\\]|\\.)*\"|'[^']*'", '""', raw).split("#", 1)[0]
        if depth == 0:
            m = _TABLE.match(line)
            if m:
                names = tuple(p.strip().strip("\"'") for p in m.group(2).split("."))
                if m.group(1) == "[[":
                    i = counts.get(names, -1) + 1
                    counts[names] = i
                    table = (*names, i)
                else:
                    table = names
                out.setdefault(table, n)
                continue
            k = _KEY.match(raw)
            if k:
                keys = tuple(p.strip().strip("\"'") for p in k.group(1).split("."))
                out.setdefault((*table, *keys), n)
        depth = max(0, depth + line.count("[") + line.count("{") - line.count("]")
                    - line.count("}"))
    return out
