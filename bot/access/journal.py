"""The audit trail of requests and refusals: what someone asked an interface
for, and what was refused and why. Views of snapshots are audited by the
snapshots domain; this records the asking, the same way for every interface."""

from __future__ import annotations

from typing import Any

from bot.store.service import Store


class Journal:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def asked(self, actor: str, action: str, target: str = "", *,
                    snapshot_id: str | None = None, **detail: Any) -> None:
        await self.store.audit(actor, action, target[:255], snapshot_id=snapshot_id, **detail)

    async def refused(self, actor: str, target: str, *, reason: str, kind: str,
                      **detail: Any) -> None:
        await self.store.audit(actor, "refused", target, reason=reason[:500], kind=kind,
                               **detail)
