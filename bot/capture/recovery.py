"""Captures a dead process left `running`: the capture domain's "mark
interrupted" use case, run at start-up by whichever process serves captures."""

from __future__ import annotations

import os
import socket
from datetime import timedelta

from sqlalchemy import select, update

from bot.capture.jobs import ACTIVE, INTERRUPTED
from bot.store.models import CaptureJobRow, SnapshotRow
from bot.store.service import OWNER, Store, now


async def interrupt_dead_captures(store: Store, *, stale_after: timedelta) -> list[str]:
    """Snapshots left `running` by a process that is gone: mark them interrupted.

    Dead means: our own owner id (a previous run of this process: a container
    restarts as pid 1 with the same hostname), a pid on this machine that no
    longer exists, or — for other replicas, whose processes we cannot see —
    running for longer than any capture may (`stale_after`, past the deadline).
    Call it at start-up, before this process starts a capture of its own."""
    async with store.sessions() as s:
        owners = set((await s.scalars(select(SnapshotRow.owner).where(
            SnapshotRow.status == "running").distinct())).all())
    ids: list[str] = []
    for owner in owners:
        if owner == OWNER or _local_pid_gone(owner):
            ids += await store.mark_interrupted(owner=owner)
    ids += await store.mark_interrupted(older_than=stale_after)
    await end_jobs_of(store, ids)
    return ids


async def end_jobs_of(store: Store, snapshot_ids: list[str]) -> None:
    """The jobs of snapshots found interrupted end too: a request for the host
    starts a new capture instead of joining a dead one."""
    if not snapshot_ids:
        return
    async with store.engine.begin() as c:
        await c.execute(update(CaptureJobRow).where(
            CaptureJobRow.snapshot_id.in_(snapshot_ids), CaptureJobRow.state.in_(ACTIVE))
            .values(state=INTERRUPTED, finished_at=now(), error="its process is gone"))


async def interrupt_if_orphaned(store: Store, snapshot_id: str) -> bool:
    """A `running` snapshot whose capturing process on this machine is gone
    (a CLI killed mid-capture; no `serve` start-up to notice it): mark that
    owner's captures interrupted when someone looks, so no view calls a dead
    capture "running". True when it did."""
    async with store.sessions() as s:
        owner = await s.scalar(select(SnapshotRow.owner).where(
            SnapshotRow.id == snapshot_id, SnapshotRow.status == "running"))
    if not owner or owner == OWNER or not _local_pid_gone(owner):
        return False
    ids = await store.mark_interrupted(owner=owner, why="the hostsnap process capturing it is gone")
    await end_jobs_of(store, ids)
    return snapshot_id in ids


def _local_pid_gone(owner: str) -> bool:
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # exists, owned by someone else
        return False
    return False
