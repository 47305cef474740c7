"""Versions from command lines: `push-server-1.4.2.jar`, `app_v2.3`, `--version=3.1`.

Enough to notice a stale node running an old build next to its group (004)."""

from __future__ import annotations

import re

_VERSIONED = re.compile(
    r"(?:^|[/\s=:])([A-Za-z][A-Za-z0-9_.]*?(?:-[A-Za-z][A-Za-z0-9_]*)*)[-_]v?"
    r"(\d+(?:\.\d+)+(?:[-.](?!jar\b|war\b|tar\b)[A-Za-z0-9]+)?)(?:\.jar|\.war|\.tar|\b)"
)


def versions_in(cmdline: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for m in _VERSIONED.finditer(cmdline):
        name, ver = m.group(1), m.group(2)
        if name.lower() in ("python", "java", "jdk", "openjdk", "jre", "lib", "usr"):
            continue
        out.setdefault(name.rsplit("/", 1)[-1], ver)
    return out
