"""Who looks at evidence, through which interface: every use case that shows
a snapshot, a raw file or the alert history audits it with this."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Interface = Literal["cli", "slack", "web"]


@dataclass(frozen=True)
class Viewer:
    """Who looks, through which interface (and, for chat, from where)."""

    actor: str  # cli:<login>, slack:<user id>
    interface: Interface
    channel: str | None = None

    def detail(self) -> dict[str, Any]:
        d: dict[str, Any] = {"interface": self.interface}
        if self.channel is not None:
            d["channel"] = self.channel
        return d
