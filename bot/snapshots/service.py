"""Browsing stored snapshots. Every view of a snapshot, of a raw file and of a
diff is audited here with the actor and the interface, so the audit trail
does not depend on where someone looked; a raw file leaves redacted for sinks
that ship it elsewhere (Slack, web) and as stored for the local terminal."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.access.viewer import Viewer
from bot.capture.recovery import interrupt_if_orphaned
from bot.redact import redact_bytes
from bot.render.dumpview import GroupView, PageView, Rows
from bot.snapshots.dumps import DumpExplorer, DumpRef, earlier, growth, refs_of
from bot.snapshots.timeline import HostPoint, host_points
from bot.store.service import SnapshotNotFound, Store
from bot.store.views import ArtifactView, SnapshotSummary, SnapshotView
from collectors.analysis.diff import SnapshotDiff, diff_snapshots
from collectors.analysis.dumps import DumpDiff
from collectors.analysis.fleet import FleetSummary, summarize


@dataclass(frozen=True)
class RawFile:
    meta: ArtifactView
    data: bytes
    redactions: int = 0  # secrets replaced (0 when not redacted)
    cut: bool = False  # longer than the sink takes: the stored evidence stays whole


class NoEarlierSnapshot(SnapshotNotFound):
    """`diff ID` alone, and ID is its host's first snapshot."""

    def __init__(self, host: str, snapshot_id: str, typed: str) -> None:
        super().__init__(f"{typed} has no earlier snapshot of its host to compare with; "
                         "name two ids")
        self.host = host
        self.snapshot_id = snapshot_id


class SnapshotService:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.dumps = DumpExplorer(store)

    async def list(self, host: str | None = None, limit: int = 20) -> list[SnapshotSummary]:
        return await self.store.list_snapshots(host, limit)

    async def find(self, snapshot_id: str) -> SnapshotView:
        """The snapshot, not yet shown to anyone (to check who may see it)."""
        view = await self.store.get_snapshot(snapshot_id)
        if view.status == "running" and await interrupt_if_orphaned(self.store, view.id):
            view = await self.store.get_snapshot(view.id)
        return view

    async def show(self, viewer: Viewer, snapshot: str | SnapshotView) -> SnapshotView:
        view = snapshot if isinstance(snapshot, SnapshotView) else await self.find(snapshot)
        await self.store.audit(viewer.actor, "view", view.host, snapshot_id=view.id,
                               **viewer.detail())
        return view

    async def raw(self, viewer: Viewer, snapshot: str | SnapshotView, name: str, *,
                  redact: bool, max_bytes: int | None = None) -> RawFile:
        """One raw file; `redact` for sinks that ship it off this machine."""
        sid = snapshot.id if isinstance(snapshot, SnapshotView) else \
            await self.store.resolve_id(snapshot)
        meta, data = await self.store.get_artifact(sid, name)
        cut = max_bytes is not None and len(data) > max_bytes
        if cut:
            data = data[:max_bytes]
        n = 0
        extra: dict[str, Any] = {}
        if redact:
            data, n = redact_bytes(data)
            extra = {"redactions": n, "sink": viewer.interface}
        await self.store.audit(viewer.actor, "view_raw", meta.name, snapshot_id=sid,
                               **viewer.detail(), **extra)
        return RawFile(meta, data, n, cut)

    async def previous(self, snapshot_id: str) -> str | None:
        """The id of the host's snapshot before this one."""
        return await self.store.previous_snapshot(snapshot_id)

    async def pair(self, first: str, second: str | None) -> tuple[str, str]:
        """(older, newer) ids: `first second` as given, or `first` against the
        host's previous snapshot."""
        if second is not None:
            return first, second
        sid = await self.store.resolve_id(first)
        prev = await self.previous(sid)
        if prev is None:
            view = await self.find(sid)
            raise NoEarlierSnapshot(view.host, view.id, first)
        return prev, sid

    async def diff(self, viewer: Viewer, older: str | SnapshotView,
                   newer: str | SnapshotView) -> SnapshotDiff:
        a, b = await asyncio.gather(self._view(older), self._view(newer))
        await self.store.audit(viewer.actor, "diff", b.host, snapshot_id=b.id, older=a.id,
                               **viewer.detail())
        return diff_snapshots(a, b)

    async def timeline(self, viewer: Viewer, host: str, limit: int = 200) -> Sequence[HostPoint]:
        """The host's snapshots, oldest first, with threads, TIME_WAIT and memory."""
        points = await host_points(self.store, host, limit)
        await self.store.audit(viewer.actor, "view_host", host, **viewer.detail(),
                               snapshots=len(points))
        return points

    async def fleet(self, viewer: Viewer, views: Sequence[SnapshotView]) -> FleetSummary:
        """Which of these snapshots' hosts stand out (a capture of several hosts)."""
        for v in views:
            await self.store.audit(viewer.actor, "view", v.host, snapshot_id=v.id,
                                   **viewer.detail(), fleet=len(views))
        return summarize(views)

    # -- the thread-dump explorer (bot/snapshots/dumps.py) --------------------------------
    # Every look is audited as a view of that raw file (redacted, sink web).
    def _dump(self, view: SnapshotView, n: int) -> DumpRef:
        ref = next((r for r in refs_of(view) if r.n == n), None)
        if ref is None:
            raise SnapshotNotFound(f"snapshot {view.id} has no thread dump {n}")
        return ref

    async def _audit_dump(self, viewer: Viewer, view: SnapshotView, page: PageView,
                          **extra: Any) -> None:
        await self.store.audit(viewer.actor, "view_raw", page.name, snapshot_id=view.id,
                               **viewer.detail(), redactions=page.redactions,
                               sink=viewer.interface, explorer=True, **extra)

    async def explore(self, viewer: Viewer, view: SnapshotView, n: int, state: str = ""
                      ) -> PageView:
        """The explorer page of the snapshot's n-th thread dump, its groups in `state`."""
        got = await self.dumps.page(self._dump(view, n), state)
        await self._audit_dump(viewer, view, got)
        return got

    async def explore_search(self, viewer: Viewer, view: SnapshotView, n: int, q: str,
                             state: str = "", page: int = 1) -> tuple[PageView, Rows]:
        """The page and the threads matching `q` (name, frame, lock address) in `state`."""
        ref = self._dump(view, n)
        got = await self.dumps.page(ref, state)
        rows = await self.dumps.search(ref, q, state, page) if got.searchable else None
        await self._audit_dump(viewer, view, got, search=q[:200])
        return got, rows or Rows([], 0, 1, 1)

    async def explore_group(self, viewer: Viewer, view: SnapshotView, n: int, rank: int,
                            state: str = "", page: int = 1) -> GroupView:
        """A stack group's frames and a page of its threads."""
        ref = self._dump(view, n)
        got = await self.dumps.group(ref, rank, state, page)
        await self.store.audit(viewer.actor, "view_raw", ref.name, snapshot_id=view.id,
                               **viewer.detail(), redactions=got.redactions,
                               sink=viewer.interface, explorer=True, group=rank)
        return got

    async def dump_growth(self, viewer: Viewer, view: SnapshotView, n: int, cur: PageView
                          ) -> tuple[str, DumpDiff] | None:
        """What grew since the previous dump of the same process as `cur` (explored):
        the one before it in the same file (a SIGQUIT log), else the process's
        previous dump (explored too, so audited)."""
        if cur.prev_summary is not None:
            return "the previous dump in this file", growth(cur.kind, cur.prev_summary,
                                                              cur.summary)
        prev = earlier(refs_of(view), self._dump(view, n))
        if prev is None:
            return None
        before = await self.explore(viewer, view, prev.n)
        if before.kind != cur.kind:
            return None
        return prev.name, growth(cur.kind, before.summary, cur.summary)

    def warm_dumps(self, view: SnapshotView) -> None:
        """Start parsing the snapshot's dumps in the explorer's worker now (nobody
        sees them yet: no audit), so the explorer opens without waiting."""
        self.dumps.warm(refs_of(view))

    async def _view(self, s: str | SnapshotView) -> SnapshotView:
        return s if isinstance(s, SnapshotView) else await self.find(s)
