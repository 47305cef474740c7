"""What a collector may touch on a host, declared once and enforced.

A collector states its reads as a `Reads` (files and globs, directories it
lists, files it writes, unix sockets, TCP endpoints, commands, signals); the
session it gets is a `GuardedSession` that refuses anything outside it with
`UndeclaredAccess`. `hostsnap collectors` prints the same declaration, so a
security review reads exactly what the code is allowed to do.

Patterns: `<pid>` is a process id (or `self`), `<nspid>` a pid in a container,
`<user>` a user name, `<path>` an absolute path of plain characters,
`*` any text within one path segment, `**` any text across segments, and
`{a,b}` either. Commands are matched on their argv joined by spaces; TCP
endpoints as `host:port`; signals as their name (`QUIT`).

Refused, not merely logged, in production too: a refusal costs that collector
some evidence (the runner reports it as an error of the collector), whereas an
allowed-but-logged read would make the declaration a promise the code may break
— the very thing a security review must be able to rely on. Strict mode (env
HOSTSNAP_STRICT_READS=1, set for the test suite) makes the runner re-raise the
refusal, so a test fails even when the collector's status is not checked.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from functools import cached_property
from typing import Any

from collectors.transport.base import DEFAULT_READ_LIMIT, CommandResult, HostSession

log = logging.getLogger(__name__)

STRICT_ENV = "HOSTSNAP_STRICT_READS"


def strict() -> bool:
    return os.environ.get(STRICT_ENV, "") not in ("", "0")


class UndeclaredAccess(Exception):
    """A collector touched something its `Reads` does not declare. Not a
    TransportError nor PathGone, so no collector's error handling swallows it."""

    def __init__(self, collector: str, kind: str, target: str) -> None:
        super().__init__(f"collector {collector!r} did not declare {kind} {target!r}")
        self.collector, self.kind, self.target = collector, kind, target


_TOKEN = re.compile(r"<[a-z]+>|\*\*|\*|\{[^{}]*\}|[^<*{]+|.")
_NAMED = {"<pid>": r"(?:\d+|self)", "<nspid>": r"\d+", "<user>": r"[A-Za-z_][A-Za-z0-9_.-]*",
          "<path>": r"/[A-Za-z0-9_./+-]+", "<sig>": r"[A-Z0-9]+"}


def _regex(pattern: str) -> str:
    out = []
    for tok in _TOKEN.findall(pattern):
        if tok in _NAMED:
            out.append(_NAMED[tok])
        elif tok == "**":
            out.append(r".*")
        elif tok == "*":
            out.append(r"[^/]*")
        elif tok.startswith("{") and tok.endswith("}"):
            out.append("(?:" + "|".join(_regex(a) for a in tok[1:-1].split(",")) + ")")
        else:
            out.append(re.escape(tok))
    return "".join(out)


def compile_patterns(patterns: Iterable[str]) -> re.Pattern[str] | None:
    alts = [_regex(p) for p in patterns]
    return re.compile("(?:" + "|".join(alts) + r")\Z", re.S) if alts else None


@dataclass(frozen=True)
class Reads:
    """Everything a collector may touch on a host."""

    files: tuple[str, ...] = ()  # read (whole, range, size, readlink)
    dirs: tuple[str, ...] = ()  # listed
    writes: tuple[str, ...] = ()  # created or removed
    sockets: tuple[str, ...] = ()  # unix sockets opened (forwarded)
    tcp: tuple[str, ...] = ()  # host:port opened from the host (forwarded)
    commands: tuple[str, ...] = ()  # argv joined by spaces; needs a fork on the host
    signals: tuple[str, ...] = ()  # sent to processes (QUIT)
    #: one line a reader needs to make sense of the rest (where values come from)
    notes: tuple[str, ...] = ()

    def __or__(self, other: Reads) -> Reads:
        return Reads(**{f.name: tuple(dict.fromkeys((*getattr(self, f.name),
                                                      *getattr(other, f.name))))
                        for f in fields(self)})

    @cached_property
    def _compiled(self) -> dict[str, re.Pattern[str] | None]:
        return {f.name: compile_patterns(getattr(self, f.name))
                for f in fields(self) if f.name != "notes"}

    def allows(self, kind: str, target: str) -> bool:
        rx = self._compiled[kind]
        return rx is not None and rx.match(target) is not None

    def as_dict(self) -> dict[str, list[str]]:
        return {f.name: list(getattr(self, f.name)) for f in fields(self)}


class GuardedSession(HostSession):
    """The real session, behind the declaration of one collector."""

    def __init__(self, inner: HostSession, collector: str, reads: Reads) -> None:
        self.inner = inner
        self.collector = collector
        self.reads = reads
        self.name = inner.name
        self.is_local = inner.is_local
        self.login_user = inner.login_user
        self._logged: set[tuple[str, str]] = set()

    def __getattr__(self, attr: str) -> Any:  # transport extras (has_shell, closed...)
        return getattr(self.inner, attr)

    def check(self, kind: str, target: str) -> None:
        if self.reads.allows(kind, target):
            return
        if (kind, target) not in self._logged:  # once per target: a loop must not flood
            self._logged.add((kind, target))
            log.warning("refused: collector %s did not declare %s %r", self.collector, kind,
                        target)
        raise UndeclaredAccess(self.collector, kind, target)

    async def read_file(self, path: str, limit: int = DEFAULT_READ_LIMIT) -> bytes:
        self.check("files", path)
        return await self.inner.read_file(path, limit)

    async def read_files(self, paths: Iterable[str], limit: int = DEFAULT_READ_LIMIT
                         ) -> dict[str, bytes | None]:
        plist = list(dict.fromkeys(paths))
        for p in plist:
            self.check("files", p)
        return await self.inner.read_files(plist, limit)  # the transport's pipelining

    async def listdir(self, path: str) -> list[str]:
        self.check("dirs", path)
        return await self.inner.listdir(path)

    async def readlink(self, path: str) -> str:
        self.check("files", path)
        return await self.inner.readlink(path)

    async def file_size(self, path: str) -> int:
        self.check("files", path)
        return await self.inner.file_size(path)

    async def read_range(self, path: str, offset: int, limit: int) -> bytes:
        self.check("files", path)
        return await self.inner.read_range(path, offset, limit)

    async def read_tail(self, path: str, nbytes: int) -> bytes:
        self.check("files", path)
        return await self.inner.read_tail(path, nbytes)

    async def write_file(self, path: str, data: bytes) -> None:
        self.check("writes", path)
        await self.inner.write_file(path, data)

    async def remove(self, path: str) -> None:
        self.check("writes", path)
        await self.inner.remove(path)

    async def signal(self, pid: int, sig: str) -> bool:
        self.check("signals", sig)
        return await self.inner.signal(pid, sig)

    async def run(self, argv: Sequence[str], timeout: float = 10.0) -> CommandResult:
        self.check("commands", " ".join(argv))
        return await self.inner.run(argv, timeout)

    async def open_tcp(self, host: str, port: int) -> Any:
        self.check("tcp", f"{host}:{port}")
        return await self.inner.open_tcp(host, port)

    async def open_unix(self, path: str) -> Any:
        self.check("sockets", path)
        return await self.inner.open_unix(path)

    async def close(self) -> None:
        return None  # the capture owns the real session
