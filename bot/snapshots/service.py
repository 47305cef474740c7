"""Browsing stored snapshots. Every view of a snapshot, of a raw file and of a
diff is audited here with the actor and the interface, so the audit trail
does not depend on where someone looked; a raw file leaves redacted for sinks
that ship it elsewhere (Slack, web) and as stored for the local terminal."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Literal

from bot.capture.recovery import interrupt_if_orphaned
from bot.redact import redact_bytes
from bot.store.service import SnapshotNotFound, Store
from bot.store.views import ArtifactView, SnapshotSummary, SnapshotView
from collectors.analysis.diff import SnapshotDiff, diff_snapshots

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

    async def _view(self, s: str | SnapshotView) -> SnapshotView:
        return s if isinstance(s, SnapshotView) else await self.find(s)
