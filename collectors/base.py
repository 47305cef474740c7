"""A collector declares what it reads (`Reads`, enforced by the session it is
given) and its timeout in one small class (cf. sos report plugins); `collect`
returns raw artifacts and a parsed summary. Collectors know hosts, never Slack
or SQL."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

from pydantic import BaseModel

from collectors.analysis.findings import Finding
from collectors.analysis.results import dump_json
from collectors.analysis.thresholds import Thresholds
from collectors.plugin import GuardedSession, Reads
from collectors.transport.base import HostSession


class Status(StrEnum):
    OK = "ok"
    PARTIAL = "partial"  # some evidence, some missing: says why
    FAILED = "failed"
    TIMEOUT = "timeout"
    SKIPPED = "skipped"  # not applicable here (no JVM, no docker socket)


@dataclass(slots=True)
class Artifact:
    """Raw evidence exactly as read from the host (stored zstd-compressed)."""

    name: str
    data: bytes
    content_type: str = "text/plain"
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class CollectorResult:
    collector: str
    status: Status = Status.OK
    error: str | None = None
    parsed: dict[str, Any] = field(default_factory=dict)
    #: the typed result (collectors.analysis.stage.RESULT_MODELS), filled in place;
    #: the runner stores it as `parsed` (its JSON), also after a timeout
    typed: BaseModel | None = None
    artifacts: list[Artifact] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    duration_s: float = 0.0

    def sync(self) -> None:
        """`parsed` from `typed`: what was gathered so far, as it is stored."""
        if self.typed is not None:
            self.parsed = dump_json(self.typed)


@dataclass
class HostInfo:
    """What the inventory says about the host (labels select workloads)."""

    name: str
    group: str = ""
    labels: dict[str, Any] = field(default_factory=dict)


Progress = Callable[[str, str], Awaitable[None] | None]


class CollectContext:
    """Shared by the collectors of one capture; memoizes expensive host reads
    (the /proc scan) so concurrent collectors do them once."""

    def __init__(
        self,
        session: HostSession,
        host: HostInfo,
        thresholds: Thresholds | None = None,
        options: dict[str, Any] | None = None,
    ) -> None:
        self.session = session
        self.host = host
        self.thresholds = thresholds or Thresholds()
        self.options = options or {}
        self._memo: dict[str, asyncio.Task[Any]] = {}

    def for_collector(self, collector: Collector) -> CollectContext:
        """The same capture (memo shared) seen through `collector`'s declaration."""
        view = CollectContext.__new__(CollectContext)
        view.host, view.thresholds, view.options = self.host, self.thresholds, self.options
        view._memo = self._memo
        inner = self.session.inner if isinstance(self.session, GuardedSession) else self.session
        view.session = GuardedSession(inner, collector.name, collector.declared(self))
        return view

    def memo(self, key: str, factory: Callable[[], Awaitable[Any]]) -> Awaitable[Any]:
        task = self._memo.get(key)
        if task is None:
            task = asyncio.ensure_future(factory())
            self._memo[key] = task
        return asyncio.shield(task)


class Collector(ABC):
    name: ClassVar[str]
    description: ClassVar[str]
    #: Everything it may touch on a host: enforced (collectors.plugin), listed
    #: by `hostsnap collectors`.
    reads: ClassVar[Reads] = Reads()
    timeout: ClassVar[float] = 10.0
    #: Collected when no collector list is given.
    default: ClassVar[bool] = True

    def declared(self, ctx: CollectContext) -> Reads:
        """`reads`, plus what the host's configuration names (a socket path, an
        endpoint): those values are the operator's, not the collector's."""
        return self.reads

    def budget(self, ctx: CollectContext) -> float:
        """Its time limit for this capture (a dump series needs its spacing)."""
        return self.timeout

    @abstractmethod
    async def collect(self, ctx: CollectContext, result: CollectorResult) -> None:
        """Fill `result` in place, so that whatever was gathered before a
        timeout or a crash is kept as partial evidence."""
