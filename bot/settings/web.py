"""Pages in a browser ([web] in the config): where they are reached, the
secret that signs links and session cookies, and who may stand in front of
them as an SSO proxy."""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

#: a Slack user id (U…/W…): what [[authz]] rules name
SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,}$")


class WebConfigError(Exception):
    """[web] cannot be served as configured; the message names the key."""


class WebSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a typo is an error, never a default

    #: where people reach the pages (https://hostsnap.example.com); None: no
    #: pages in `serve`, no "Open in browser" button in Slack
    base_url: str | None = None
    #: environment variable or file holding the signing secret (never inline)
    secret_env: str | None = None
    secret_file: str | None = None
    #: seconds a link handed out in Slack stays valid
    link_ttl: float = Field(default=24 * 3600.0, gt=0)
    #: seconds a browser session (the cookie a link or SSO sets) lasts
    session_ttl: float = Field(default=12 * 3600.0, gt=0)
    #: addresses (IPs or CIDRs) of the SSO proxy; only their `user_header` is believed
    trusted_proxies: list[str] = Field(default_factory=list)
    #: header the proxy sets to the signed-in user (X-Forwarded-User, X-Auth-Request-Email)
    user_header: str | None = None
    #: SSO user (as the header names them, e.g. an e-mail) -> Slack user id, the
    #: identity [[authz]] rules name; a header that already is a Slack id needs no entry
    user_map: dict[str, str] = Field(default_factory=dict)
    #: the channel [[authz]] rules see for SSO users (no Slack channel is involved)
    sso_channel: str = "web"

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, v: str | None) -> str | None:
        if v is None:
            return None
        v = v.strip().rstrip("/")
        # no query, fragment or markup characters: links are built by appending to it,
        # and it goes into Slack's <url|label> markup as is
        if not re.fullmatch(r"https?://[^/\s?#<>|&\"']+(/[^\s?#<>|&\"']*)?", v):
            raise ValueError("base_url is the address people open, https://HOST[:PORT][/PATH] "
                             "(no query or fragment)")
        return v

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, v: list[str]) -> list[str]:
        for p in v:
            try:
                ipaddress.ip_network(p.strip(), strict=False)
            except ValueError:
                raise ValueError(f"{p!r} is not an IP address or CIDR (e.g. 10.0.0.5, "
                                 "10.1.0.0/16)") from None
        return [p.strip() for p in v]

    @field_validator("user_map")
    @classmethod
    def _map(cls, v: dict[str, str]) -> dict[str, str]:
        bad = [k for k, u in v.items() if not SLACK_USER.match(u)]
        if bad:
            raise ValueError(f"user_map values are Slack user ids (U…): {bad[0]!r} maps to "
                             f"{v[bad[0]]!r}")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> WebSettings:
        if self.base_url and not (self.secret_env or self.secret_file):
            raise ValueError("base_url is set but no secret signs the links: set "
                             "`secret_env` (an environment variable) or `secret_file`")
        if self.secret_env and self.secret_file:
            raise ValueError("set `secret_env` or `secret_file`, not both")
        if self.user_header and not self.trusted_proxies:
            raise ValueError("`user_header` without `trusted_proxies` would believe anyone "
                             "who sends that header: list the SSO proxy's addresses")
        return self

    @property
    def prefix(self) -> str:
        """The path of base_url ("" or "/hostsnap"): where a proxy serves the pages
        under a path, every link in them starts with it."""
        if not self.base_url:
            return ""
        return urlsplit(self.base_url).path.rstrip("/")

    @property
    def secure(self) -> bool:
        """Cookies only over https when the pages are reached over https."""
        return bool(self.base_url and self.base_url.startswith("https://"))

    def secret(self) -> bytes:
        """The signing secret, read now; raises WebConfigError naming the key."""
        if self.secret_env:
            value = os.environ.get(self.secret_env, "")
            if not value.strip():
                raise WebConfigError(f"[web].secret_env: the environment variable "
                                     f"{self.secret_env} is not set or empty")
            return _long_enough(value.strip().encode(), f"[web].secret_env ({self.secret_env})")
        if self.secret_file:
            path = Path(self.secret_file).expanduser()
            try:
                data = path.read_bytes().strip()
            except OSError as e:
                raise WebConfigError(f"[web].secret_file: cannot read {path}: "
                                     f"{e.strerror}") from None
            return _long_enough(data, f"[web].secret_file ({path})")
        raise WebConfigError("[web]: set `secret_env` or `secret_file` to sign links")

    def networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        return [ipaddress.ip_network(p, strict=False) for p in self.trusted_proxies]


def _long_enough(secret: bytes, where: str) -> bytes:
    # a short secret can be guessed offline from one signed link
    if len(secret) < 32:
        raise WebConfigError(f"{where}: the secret has {len(secret)} bytes; use at least 32 "
                             "(e.g. `openssl rand -hex 32`)")
    return secret
