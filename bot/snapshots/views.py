"""What the snapshots use cases return beyond the store's views, for renderers."""

from __future__ import annotations

from pydantic import BaseModel, Field

from collectors.analysis.findings import Finding


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
