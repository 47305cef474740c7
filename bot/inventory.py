"""The inventory: the only hosts hostsnap will ever contact.

Targets are names, `@group`, or globs ('web-*') matched against the
inventory — never passed to a shell, never resolved outside the allowlist."""

from __future__ import annotations

import difflib
import fnmatch
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.config import HostEntry, Settings
from collectors.base import HostInfo

if TYPE_CHECKING:  # asyncssh (~0.1 s) is imported only once a host is reached over SSH
    from collectors.transport.ssh import SSHTarget

LOCALHOST = "localhost"
# what a host name or pattern may contain; anything else is refused before lookup
TARGET_RE = re.compile(r"^@?[A-Za-z0-9_.*?\[\]:-]{1,253}$")


class InventoryError(Exception):
    """Unknown host, bad pattern, too many hosts: a message for users."""


@dataclass
class InventoryHost:
    name: str
    group: str = ""
    labels: dict[str, Any] = field(default_factory=dict)
    entry: HostEntry | None = None  # None: this machine, no SSH

    @property
    def is_local(self) -> bool:
        return self.entry is None

    @property
    def address(self) -> str:
        if self.entry is None:
            return LOCALHOST
        return self.entry.address or self.entry.name

    def info(self) -> HostInfo:
        return HostInfo(name=self.name, group=self.group, labels=dict(self.labels))


def _expand(p: str | None) -> str | None:
    return str(Path(p).expanduser()) if p else None


class Inventory:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.hosts: dict[str, InventoryHost] = {
            h.name: InventoryHost(h.name, h.group, h.labels, h) for h in settings.hosts
        }
        if settings.allow_localhost and LOCALHOST not in self.hosts:
            self.hosts[LOCALHOST] = InventoryHost(LOCALHOST, "local")

    def groups(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for h in self.hosts.values():
            if h.group:
                out.setdefault(h.group, []).append(h.name)
        return out

    def resolve(self, targets: list[str], *, max_hosts: int | None = None) -> list[InventoryHost]:
        """Names, @groups and globs -> inventory hosts, in the order given."""
        if not targets:
            raise InventoryError("name at least one host (see `hostsnap hosts`)")
        found: dict[str, InventoryHost] = {}
        for t in targets:
            t = t.strip()
            if not TARGET_RE.match(t):
                raise InventoryError(
                    f"'{t[:60]}' is not a host name, @group or pattern "
                    "(letters, digits, . - _ and * ? [ ] only)"
                )
            for h in self._match(t):
                found.setdefault(h.name, h)
        limit = max_hosts or self.settings.capture.max_hosts
        if len(found) > limit:
            raise InventoryError(
                f"{len(found)} hosts selected, more than the limit of {limit} "
                "(capture.max_hosts)"
            )
        return list(found.values())

    def _match(self, t: str) -> list[InventoryHost]:
        if t.startswith("@"):
            members = [h for h in self.hosts.values() if h.group == t[1:]]
            if not members:
                raise InventoryError(
                    f"no group {t}{self._suggest(t[1:], list(self.groups()), '@')}"
                )
            return members
        if any(c in t for c in "*?["):
            hits = [h for n, h in self.hosts.items() if fnmatch.fnmatchcase(n, t)]
            if not hits:
                raise InventoryError(f"no inventory host matches '{t}'")
            return hits
        if t in self.hosts:
            return [self.hosts[t]]
        if any(fnmatch.fnmatchcase(t, p) for p in self.settings.allow_patterns):
            return [InventoryHost(t, "", {}, HostEntry(name=t))]
        raise InventoryError(f"unknown host '{t}'{self._suggest(t, list(self.hosts))}")

    @staticmethod
    def _suggest(word: str, names: list[str], prefix: str = "") -> str:
        close = difflib.get_close_matches(word, names, n=3, cutoff=0.5)
        # closest first; equally close ones by name (difflib puts ties in reverse)
        close.sort(key=lambda c: (-difflib.SequenceMatcher(None, word, c).ratio(), c))
        if not close:
            return " (not in the inventory)"
        return " — did you mean " + ", ".join(prefix + c for c in close) + "?"

    def ssh_target(self, host: InventoryHost, _depth: int = 0) -> SSHTarget:
        from collectors.transport.hostkeys import expand_path
        from collectors.transport.ssh import SSHTarget

        assert host.entry is not None
        e, s = host.entry, self.settings.ssh
        if _depth > 3:
            raise InventoryError(f"{host.name}: jump hosts nest too deep (loop?)")
        jump = None
        if e.jump:
            if e.jump not in self.hosts or self.hosts[e.jump].entry is None:
                raise InventoryError(f"{host.name}: jump host '{e.jump}' is not in the inventory")
            jump = self.ssh_target(self.hosts[e.jump], _depth + 1)
        keys = [e.key_file] if e.key_file else list(s.key_files)
        return SSHTarget(
            name=host.name,
            address=e.address or e.name,
            port=e.port,
            user=e.user or s.user,
            key_files=[k for k in (_expand(k) for k in keys) if k],
            passphrase=_passphrase(s.passphrase_env, s.passphrase_file),
            use_agent=s.use_agent,
            # a host's own setting wins even when empty: empty is refused at
            # connect (collectors.transport.hostkeys), never "no check"
            known_hosts=expand_path(s.known_hosts if e.known_hosts is None else e.known_hosts),
            trust_on_first_use=(
                e.trust_on_first_use if e.trust_on_first_use is not None
                else s.trust_on_first_use
            ),
            jump=jump,
            connect_timeout=s.connect_timeout,
            keepalive_interval=s.keepalive_interval,
            retries=s.retries,
        )


def _passphrase(env: str | None, file: str | None) -> str | None:
    if env and os.environ.get(env):
        return os.environ[env]
    if file:
        p = Path(file).expanduser()
        if p.exists():
            return p.read_text().strip()
    return None
