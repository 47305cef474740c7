"""[alerts] in the config: receivers (where alerts come in and how they
authenticate), routes (which alerts capture what, posted where) and the storm
limits (cooldown per host, capture budget, concurrency)."""

from __future__ import annotations

import os
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

#: a receiver's name is its URL path: POST /alerts/<name>
NAME_RE = r"^[a-z0-9][a-z0-9_-]{0,63}$"


class AlertConfigError(Exception):
    """A receiver cannot be used (a secret's variable is unset); for users."""


def _secret(name: str, what: str, inline: SecretStr | None, env: str | None) -> bytes:
    if inline is not None and inline.get_secret_value():
        return inline.get_secret_value().encode()
    if env:
        value = os.environ.get(env)
        if value:
            return value.encode()
        raise AlertConfigError(f"alert receiver '{name}': {what} comes from ${env}, "
                               "which is not set")
    raise AlertConfigError(f"alert receiver '{name}': no {what}")


def _compiles(pattern: str) -> None:
    try:
        re.compile(pattern)
    except re.error as e:  # not a ValueError: pydantic would not report it
        raise ValueError(f"bad regex {pattern!r}: {e}") from None


class Receiver(BaseModel):
    """One webhook endpoint, POST /alerts/<name>. Secrets are given inline
    (`token`) or, better, by the name of an environment variable (`token_env`)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_RE)
    kind: Literal["alertmanager", "grafana", "generic"]
    auth: Literal["bearer", "basic", "hmac"]
    token: SecretStr | None = None
    token_env: str | None = None
    username: str | None = None
    password: SecretStr | None = None
    password_env: str | None = None
    secret: SecretStr | None = None
    secret_env: str | None = None
    #: Grafana's HMAC signature: hex HMAC-SHA256 of the body (or of "timestamp:body")
    signature_header: str = "X-Grafana-Alerting-Signature"
    #: set it (e.g. X-Grafana-Alerting-Signature-Timestamp) to sign the timestamp
    #: too; requests outside `replay_window` seconds are then refused
    timestamp_header: str | None = None
    replay_window: float = Field(default=300.0, gt=0)

    @model_validator(mode="after")
    def _complete(self) -> Receiver:
        if self.auth == "bearer" and not (self.token or self.token_env):
            raise ValueError("bearer auth needs token or token_env")
        if self.auth == "basic" and not (self.username and (self.password or self.password_env)):
            raise ValueError("basic auth needs username and password or password_env")
        if self.auth == "hmac" and not (self.secret or self.secret_env):
            raise ValueError("hmac auth needs secret or secret_env")
        if self.timestamp_header and self.auth != "hmac":
            raise ValueError("timestamp_header only applies to hmac auth")
        return self

    def credential(self) -> bytes:
        """The shared secret this receiver checks against (raises AlertConfigError)."""
        if self.auth == "bearer":
            return _secret(self.name, "token", self.token, self.token_env)
        if self.auth == "basic":
            return _secret(self.name, "password", self.password, self.password_env)
        return _secret(self.name, "secret", self.secret, self.secret_env)


class Route(BaseModel):
    """Which alerts capture, with which collectors, posted where. Every given
    condition must hold (empty = any); the first matching route wins. Regexes
    match the whole value, as in Alertmanager."""

    model_config = ConfigDict(extra="forbid")

    name: str = ""
    receivers: list[str] = Field(default_factory=list)
    alertname: list[str] = Field(default_factory=list)
    alertname_re: str | None = None
    severity: list[str] = Field(default_factory=list)
    match: dict[str, str] = Field(default_factory=dict)
    match_re: dict[str, str] = Field(default_factory=dict)
    #: capture the host (false: only record the alert, or only warm a session)
    capture: bool = True
    #: keep a warm session to the host while the alert fires (a host heading for
    #: its thread ceiling soon cannot accept a new SSH login)
    warm: bool = False
    collectors: list[str] | None = None  # None: [capture].collectors
    # a Slack channel id (C0123ABCD); the database keeps 32 characters
    channel: str | None = Field(default=None, pattern=r"^[A-Z0-9]{1,32}$")  # None: [alerts].channel

    @field_validator("alertname_re")
    @classmethod
    def _regex(cls, v: str | None) -> str | None:
        if v is not None:
            _compiles(v)
        return v

    @field_validator("match_re")
    @classmethod
    def _regexes(cls, v: dict[str, str]) -> dict[str, str]:
        for pattern in v.values():
            _compiles(pattern)
        return v

    @field_validator("collectors")
    @classmethod
    def _collectors(cls, v: list[str] | None) -> list[str] | None:
        from collectors import registry  # here: every CLI start loads the config

        registry.resolve(v)  # ValueError names the unknown ones
        return v


class AlertSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    receivers: list[Receiver] = Field(default_factory=list)
    routes: list[Route] = Field(default_factory=list)
    #: Slack channel (id) for routes that name none
    channel: str | None = Field(default=None, pattern=r"^[A-Z0-9]{1,32}$")
    #: seconds after a capture during which alerts for the same host are only recorded
    cooldown: float = Field(default=900.0, ge=0)
    #: a capture that failed (host unreachable, refused) holds its host only this
    #: long instead of the cooldown, so a later alert tries again
    retry_failed_after: float = Field(default=60.0, ge=0)
    #: captures started by alerts in any minute (sliding), all hosts and replicas together
    budget_per_minute: int = Field(default=10, ge=1)
    #: captures started by alerts running at once in this process
    concurrency: int = Field(default=5, ge=1, le=100)
    #: biggest webhook body accepted (bytes); Alertmanager groups can be large
    max_body: int = Field(default=1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    #: alerts per webhook; more is refused as malformed (truncate at the sender)
    max_alerts: int = Field(default=1000, ge=1)
    #: seconds a sender has to send its whole body; slower is refused (408)
    body_timeout: float = Field(default=10.0, gt=0, le=300)
    #: bodies read at once before their sender is verified (HMAC signs the
    #: body); more wait a second, then get 503 with Retry-After
    max_unverified_bodies: int = Field(default=32, ge=1, le=10_000)
    #: a warm session opened for an alert is closed when it resolves, or after this
    warm_for: float = Field(default=3600.0, gt=0)
    #: alert labels naming the host, tried in this order (instance loses its :port)
    host_labels: list[str] = Field(
        default_factory=lambda: ["host", "hostname", "nodename", "instance", "node"])
    #: alert label -> inventory host label listing the names (globs) it runs
    workload_labels: dict[str, str] = Field(
        default_factory=lambda: {"container": "containers", "pod": "pods"})

    def check(self) -> None:
        """Every receiver's secret is there (raises AlertConfigError)."""
        for r in self.receivers:
            r.credential()

    @model_validator(mode="after")
    def _consistent(self) -> AlertSettings:
        names = [r.name for r in self.receivers]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"alert receiver defined twice: {', '.join(sorted(dup))}")
        for i, route in enumerate(self.routes):
            unknown = [n for n in route.receivers if n not in names]
            if unknown:
                raise ValueError(f"route {route.name or i}: unknown receiver "
                                 f"{', '.join(unknown)}")
            if route.capture and not (route.channel or self.channel):
                raise ValueError(f"route {route.name or i}: no channel (set channel here "
                                 "or [alerts].channel)")
        return self
