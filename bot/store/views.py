"""Read models of stored snapshots: what every renderer (terminal, Slack,
JSON, web) draws from, so all views of a snapshot show the same data."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from collectors.analysis.findings import Finding


class CollectorView(BaseModel):
    name: str
    status: str
    error: str | None = None
    duration_s: float = 0.0
    warnings: list[str] = Field(default_factory=list)


class ArtifactView(BaseModel):
    name: str
    collector: str
    size: int
    stored_size: int
    sha256: str
    content_type: str = "text/plain"


class SnapshotSummary(BaseModel):
    id: str
    host: str
    host_group: str = ""
    status: str
    trigger: str
    requested_by: str
    created_at: datetime
    duration_s: float | None = None
    findings: int = 0
    critical: int = 0
    headline: str = ""  # title of the worst finding


class SnapshotView(SnapshotSummary):
    finished_at: datetime | None = None
    error: str | None = None
    summary: dict[str, Any] = Field(default_factory=dict)
    collectors: list[CollectorView] = Field(default_factory=list)
    finding_list: list[Finding] = Field(default_factory=list)
    artifacts: list[ArtifactView] = Field(default_factory=list)
    parsed: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @property
    def missing(self) -> list[CollectorView]:
        """Collectors whose evidence is incomplete, with the reason."""
        return [c for c in self.collectors if c.status not in ("ok", "skipped")]


class AuditView(BaseModel):
    at: datetime
    actor: str
    action: str
    target: str
    snapshot_id: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict)


class Reanalyzed(BaseModel):
    """What one snapshot's new analysis changed."""

    id: str
    host: str
    old_rules: str  # rules version of the set shown before
    new_rules: str
    finding_set: int | None = None  # the new set's number; None when skipped
    skipped: bool = False  # already analysed by today's rules
    appeared: list[Finding] = Field(default_factory=list)
    vanished: list[Finding] = Field(default_factory=list)
    findings: int = 0  # in the set now shown
    worst: Finding | None = None
