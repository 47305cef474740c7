"""A host's snapshots with their key numbers (threads, TIME_WAIT, memory), for
the host page's timeline: one query for the snapshots, one for the three
host collectors' stored results, never a whole snapshot each."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ValidationError
from sqlalchemy import select

from bot.store.models import CollectorRunRow
from bot.store.service import Store
from bot.store.views import SnapshotSummary
from collectors.analysis.hostmodels import LimitsSummary, MemorySummary, NetworkSummary

_MODELS: dict[str, type[BaseModel]] = {
    "limits": LimitsSummary, "network": NetworkSummary, "memory": MemorySummary}


@dataclass(frozen=True)
class HostPoint:
    snapshot: SnapshotSummary
    threads: int | None = None  # threads of the processes hostsnap saw (as the fleet table)
    time_wait: int | None = None
    mem_used_pct: float | None = None
    mem_available_kb: int | None = None


async def host_points(store: Store, host: str, limit: int = 200) -> list[HostPoint]:
    """The host's last `limit` snapshots, oldest first."""
    snaps = await store.list_snapshots(host, limit)
    if not snaps:
        return []
    async with store.sessions() as s:
        rows = (await s.execute(select(
            CollectorRunRow.snapshot_id, CollectorRunRow.collector, CollectorRunRow.parsed)
            .where(CollectorRunRow.snapshot_id.in_([x.id for x in snaps]),
                   CollectorRunRow.collector.in_(list(_MODELS))))).all()
    got: dict[str, dict[str, object]] = {}
    for sid, collector, parsed in rows:
        if not parsed:
            continue
        try:
            got.setdefault(sid, {})[collector] = _MODELS[collector].model_validate(parsed)
        except ValidationError:  # stored by another version: a gap, not an error
            continue
    out = []
    for snap in reversed(snaps):
        r = got.get(snap.id, {})
        lim, net, mem = r.get("limits"), r.get("network"), r.get("memory")
        out.append(HostPoint(
            snapshot=snap,
            threads=lim.visible_threads if isinstance(lim, LimitsSummary) else None,
            time_wait=net.time_wait if isinstance(net, NetworkSummary) else None,
            mem_used_pct=round(100 * (1 - mem.mem_available_kb / mem.mem_total_kb), 1)
            if isinstance(mem, MemorySummary) and mem.mem_total_kb else None,
            mem_available_kb=mem.mem_available_kb if isinstance(mem, MemorySummary) else None,
        ))
    return out
