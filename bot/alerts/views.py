"""What `hostsnap alerts` (and the web pages next) show of a received alert:
a plain view, so no renderer holds an ORM row."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class AlertView:
    id: int
    received_at: datetime
    receiver: str
    alertname: str
    status: str
    severity: str
    host: str
    route: str
    channel: str | None
    outcome: str
    detail: str
    snapshot_id: str | None
    covered_by: int | None
    fingerprint: str

    @classmethod
    def of(cls, row: Any) -> AlertView:
        """From the ledger's row (bot.store.models.AlertRow)."""
        return cls(**{f: getattr(row, f) for f in cls.__dataclass_fields__})

    def json(self) -> dict[str, Any]:
        d = asdict(self)
        d["received_at"] = self.received_at.isoformat()
        return d
