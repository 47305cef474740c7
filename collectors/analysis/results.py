"""Typed results of the dump collectors, as stored (collector_runs.parsed).

The host collectors' results are hostmodels' LimitsSummary, MemorySummary and
NetworkSummary, docker's is containers.ContainersSummary. Unknown keys are
kept (extra="allow"): results stored by an older or newer hostsnap validate."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class JvmDump(_Open):
    method: str
    why: str = ""
    bytes: int = 0
    seconds: float = 0.0


class JvmInfo(_Open):
    pid: int
    nspid: int | None = None
    user: str = ""
    threads: int = 0
    cmdline: str = ""
    listener_before: bool = False
    stdout: str = ""
    dumps: list[JvmDump] = Field(default_factory=list)
    error: str | None = None
    jdk: str | None = None
    #: the last dump's summary (what `hostsnap diff` compares); set by the analysis stage
    summary: dict[str, Any] | None = None


class JvmResult(_Open):
    jvms: list[JvmInfo] = Field(default_factory=list)


class GoEndpoint(_Open):
    endpoint: str
    path: str = "/debug/pprof"
    source: str = "label"
    pid: int | None = None
    process: str = ""
    format: str | None = None  # "debug=2" / "debug=1" once dumped
    bytes: int | None = None
    truncated: bool | None = None
    #: why debug=2 was cut (then debug=1 was fetched)
    debug2_truncated: str | None = None
    seconds: float | None = None
    error: str | None = None
    summary: dict[str, Any] | None = None

    @property
    def display(self) -> str:
        if self.pid:
            return f"{self.process or 'pid'} pid {self.pid} ({self.endpoint})"
        return self.endpoint


class GoroutinesResult(_Open):
    endpoints: list[GoEndpoint] = Field(default_factory=list)
    discovery: list[str] = Field(default_factory=list)


def dump_json(model: BaseModel) -> dict[str, Any]:
    """As stored: fields never set stay absent, as the collectors always wrote them."""
    out: dict[str, Any] = model.model_dump(mode="json", exclude_unset=True)
    return out
