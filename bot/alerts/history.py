"""Alerts received and what became of each, as every interface shows them
(`hostsnap alerts`, the /alerts page): read here, filtered to the hosts the
viewer may see, and audited like a view of a snapshot."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from bot.access.viewer import Viewer
from bot.alerts.ledger import Ledger
from bot.alerts.views import AlertView
from bot.inventory import Inventory
from bot.store.service import Store

#: may the viewer see hosts of this group? (the interface's rights)
MayView = Callable[[str], Awaitable[bool]]


@dataclass
class AlertList:
    rows: list[AlertView] = field(default_factory=list)
    #: alerts of hosts in groups the viewer may not see, left out
    hidden: int = 0


class AlertHistory:
    def __init__(self, store: Store, inventory: Inventory) -> None:
        self.store = store
        self.inventory = inventory

    async def recent(self, viewer: Viewer, limit: int, *, host: str | None = None,
                     outcome: str | None = None, may_view: MayView | None = None
                     ) -> AlertList:
        """Newest first. `may_view` None: every host (the local operator). A
        host the inventory no longer has is in no group ("")."""
        rows = await Ledger(self.store).recent(limit, host=host, outcome=outcome)
        out = AlertList()
        allowed: dict[str, bool] = {}
        for a in rows:
            if may_view is not None:
                entry = self.inventory.hosts.get(a.host)
                group = entry.group if entry is not None else ""
                if group not in allowed:
                    allowed[group] = await may_view(group)
                if not allowed[group]:
                    out.hidden += 1
                    continue
            out.rows.append(a)
        await self.store.audit(viewer.actor, "view_alerts", host or "", **viewer.detail(),
                               outcome=outcome, shown=len(out.rows), hidden=out.hidden)
        return out
