"""`reanalyze`: today's rules over stored snapshots. The evidence (typed results,
raw dumps) is read back, the analysis stage runs again, and its findings are
stored as a new finding set beside the older ones (kept, each with its rules
version), so an improved rule helps with last week's incident. A snapshot
whose latest set already comes from today's rules is left alone (unless
forced): running it twice changes nothing."""

from __future__ import annotations

import asyncio
from datetime import datetime

from bot.access.viewer import Viewer
from bot.store.service import Store
from bot.store.views import Reanalyzed
from collectors.analysis.findings import Finding, sort_findings
from collectors.analysis.stage import RULES_VERSION, reanalyze
from collectors.analysis.thresholds import Thresholds


def _key(f: Finding) -> tuple[str, str, str]:
    # a finding is "the same" across analyses by what and where, not by its
    # title (a count in the title changes when a parser improves)
    return f.collector, f.rule, f.subject


class Reanalysis:
    def __init__(self, store: Store, thresholds: Thresholds | None = None) -> None:
        self.store = store
        self.thresholds = thresholds or Thresholds()

    async def select(self, ids: list[str], *, since: datetime | None = None,
                     host: str | None = None) -> list[str]:
        """The named snapshots (ids or prefixes), then those taken since `since`
        (of `host`), each once, in that order."""
        out = [await self.store.resolve_id(i) for i in ids]
        if since is not None or (host and not ids):
            out += await self.store.snapshot_ids(since=since, host=host)
        return list(dict.fromkeys(out))

    async def run(self, viewer: Viewer, snapshot_id: str, *,
                  force: bool = False) -> Reanalyzed:
        view = await self.store.get_snapshot(snapshot_id)
        sets = await self.store.finding_sets(view.id)
        old_rules = sets[-1][1] if sets else "0"
        before = view.finding_list
        if old_rules == RULES_VERSION and not force:
            return Reanalyzed(id=view.id, host=view.host, old_rules=old_rules,
                              new_rules=RULES_VERSION, skipped=True, findings=len(before),
                              worst=before[0] if before else None)
        evidence = await self.store.evidence_of(view.id)
        # parsing MBs of dumps is CPU work: off the event loop
        found = sort_findings(await asyncio.to_thread(reanalyze, evidence, self.thresholds))
        number = await self.store.add_finding_set(view.id, found, RULES_VERSION)
        old, new = {_key(f) for f in before}, {_key(f) for f in found}
        await self.store.audit(viewer.actor, "reanalyze", view.host, snapshot_id=view.id,
                               **viewer.detail(), finding_set=number,
                               old_rules=old_rules, rules=RULES_VERSION,
                               findings=len(found))
        return Reanalyzed(
            id=view.id, host=view.host, old_rules=old_rules, new_rules=RULES_VERSION,
            finding_set=number, findings=len(found), worst=found[0] if found else None,
            appeared=[f for f in found if _key(f) not in old],
            vanished=[f for f in before if _key(f) not in new])
