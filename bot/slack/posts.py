"""Where snapshots were posted in Slack (table slack_posts), with the queries
the Slack bot needs. The row, not process memory, is the truth: the bot can be
restarted (or another replica can take over) and still update a message, and a
message Slack could not take during an outage is delivered when it is back.

The content of a message is never stored: it is rendered again from the stored
snapshot, so what is delivered late is what the snapshot says now. A capture of
several hosts has one more message, the fleet table (table slack_fleet_posts):
its hosts' snapshot ids and why the others have none are kept, so any replica
can render and post it, and then release the hosts' summaries into its thread.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update

from bot.store.models import FleetPostRow, SlackPostRow, SnapshotRow
from bot.store.service import OWNER, Store

log = logging.getLogger(__name__)

RUNNING = "running"  # the message shows progress; the capture runs in some process
PENDING = "pending"  # Slack has not got the snapshot's final state yet
DELIVERING = "delivering"  # a replica claimed the pending post and is delivering it
DONE = "done"
#: the message belongs in a thread (a fleet's) that is not posted yet: never
#: delivered at the top of the channel; `adopt` moves it to PENDING
AWAITING = "awaiting_thread"
#: a claim older than this belongs to a replica that died while delivering
CLAIM_LEASE = timedelta(minutes=2)
#: a running fleet's process touches its row this often (seconds)...
FLEET_BEAT_S = 10.0
#: ...so a row untouched this long lost its process, on whichever machine
FLEET_LEASE = timedelta(seconds=45)


@dataclass(frozen=True)
class Post:
    id: int
    snapshot_id: str
    channel: str
    ts: str | None
    thread_ts: str | None
    state: str
    details_posted: bool
    requested_by: str
    attempts: int


def _post(r: SlackPostRow) -> Post:
    return Post(r.id, r.snapshot_id, r.channel, r.ts, r.thread_ts, r.state,
                r.details_posted, r.requested_by, r.attempts)


@dataclass(frozen=True)
class FleetPost:
    """The fleet table of a capture of several hosts, as stored."""

    id: int
    channel: str
    thread_ts: str | None  # the thread the command was typed in
    ts: str | None  # the fleet message, once in Slack
    label: str
    requested_by: str
    hosts: list[str]
    state: str
    attempts: int
    snapshots: dict[str, str] = field(default_factory=dict)  # host -> snapshot id
    errors: dict[str, str] = field(default_factory=dict)  # host -> why nothing was saved


def _fleet(r: FleetPostRow) -> FleetPost:
    return FleetPost(r.id, r.channel, r.thread_ts, r.ts, r.label, r.requested_by,
                     list(r.hosts or []), r.state, r.attempts, dict(r.snapshots or {}),
                     dict(r.errors or {}))


def _now() -> datetime:
    return datetime.now(UTC)


class Posts:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def create(self, snapshot_id: str, channel: str, *, ts: str | None,
                     thread_ts: str | None, requested_by: str,
                     details_posted: bool = False, state: str = RUNNING) -> Post:
        """details_posted=True: the details are never posted by themselves."""
        t = _now()
        row = SlackPostRow(snapshot_id=snapshot_id, channel=channel, ts=ts, thread_ts=thread_ts,
                           state=state, details_posted=details_posted,
                           requested_by=requested_by,
                           created_at=t, updated_at=t, attempts=0)
        async with self.store.sessions.begin() as s:
            s.add(row)
        return _post(row)

    async def get(self, post_id: int) -> Post | None:
        async with self.store.sessions() as s:
            row = await s.get(SlackPostRow, post_id)
            return _post(row) if row else None

    async def update(self, post_id: int, *, ts: str | None = None, state: str | None = None,
                     details_posted: bool | None = None, error: str | None = None,
                     attempt: bool = False, thread_ts: str | None = None) -> None:
        values: dict[str, object] = {"updated_at": _now()}
        if ts is not None:
            values["ts"] = ts
        if thread_ts is not None:
            values["thread_ts"] = thread_ts
        if state is not None:
            values["state"] = state
        if details_posted is not None:
            values["details_posted"] = details_posted
        if error is not None or state == DONE:
            values["last_error"] = error
        if attempt:
            values["attempts"] = SlackPostRow.attempts + 1
        async with self.store.sessions.begin() as s:
            await s.execute(update(SlackPostRow).where(SlackPostRow.id == post_id)
                            .values(**values))

    async def pending(self, limit: int = 50) -> list[Post]:
        """Posts whose final state Slack has not got, oldest first. Only for
        snapshots no longer running: a running one is still being posted by
        the process that captures it."""
        stale = _now() - CLAIM_LEASE
        async with self.store.sessions() as s:
            rows = (await s.scalars(
                select(SlackPostRow).join(SnapshotRow)
                .where(or_(SlackPostRow.state == PENDING,
                           and_(SlackPostRow.state == DELIVERING,
                                SlackPostRow.updated_at < stale)),
                       SnapshotRow.status != "running")
                .order_by(SlackPostRow.id).limit(limit))).all()
            return [_post(r) for r in rows]

    async def claim(self, post: Post) -> bool:
        """Compare-and-set: only one replica delivers a pending post. A
        delivery takes seconds (retries inside the client); the claim holds
        for CLAIM_LEASE, after which another replica may take over."""
        async with self.store.sessions.begin() as s:
            res = await s.execute(
                update(SlackPostRow)
                .where(SlackPostRow.id == post.id, SlackPostRow.state == post.state,
                       SlackPostRow.attempts == post.attempts)
                .values(state=DELIVERING, attempts=SlackPostRow.attempts + 1,
                        updated_at=_now()))
            return bool(getattr(res, "rowcount", 0))

    async def requeue_orphans(self) -> int:
        """Messages still showing the progress of a capture that no longer runs
        (its process died, or stopped before telling Slack): deliver them."""
        async with self.store.sessions.begin() as s:
            res = await s.execute(
                update(SlackPostRow)
                .where(SlackPostRow.state == RUNNING, SlackPostRow.snapshot_id.in_(
                    select(SnapshotRow.id).where(SnapshotRow.status != "running")))
                .values(state=PENDING, updated_at=_now()))
            return int(getattr(res, "rowcount", 0) or 0)

    async def adopt(self, snapshot_ids: list[str], channel: str, thread_ts: str) -> int:
        """The thread these posts waited for is up: deliver them into it."""
        if not snapshot_ids:
            return 0
        async with self.store.sessions.begin() as s:
            res = await s.execute(
                update(SlackPostRow)
                .where(SlackPostRow.state == AWAITING, SlackPostRow.channel == channel,
                       SlackPostRow.snapshot_id.in_(snapshot_ids))
                .values(state=PENDING, thread_ts=thread_ts, updated_at=_now()))
            return int(getattr(res, "rowcount", 0) or 0)

    async def count(self, state: str) -> int:
        async with self.store.sessions() as s:
            return int(await s.scalar(select(func.count()).select_from(SlackPostRow).where(
                SlackPostRow.state == state)) or 0)

    # -- the fleet table of a capture of several hosts ----------------------------------
    async def create_fleet(self, channel: str, thread_ts: str | None, label: str,
                           hosts: list[str], requested_by: str) -> FleetPost:
        t = _now()
        row = FleetPostRow(channel=channel, thread_ts=thread_ts, ts=None, label=label,
                           requested_by=requested_by, hosts=hosts, snapshots={}, errors={},
                           state=RUNNING, owner=OWNER, created_at=t, updated_at=t,
                           attempts=0)
        async with self.store.sessions.begin() as s:
            s.add(row)
        return _fleet(row)

    async def get_fleet(self, fleet_id: int) -> FleetPost | None:
        async with self.store.sessions() as s:
            row = await s.get(FleetPostRow, fleet_id)
            return _fleet(row) if row else None

    async def update_fleet(self, fleet_id: int, *, ts: str | None = None,
                           state: str | None = None, snapshots: dict[str, str] | None = None,
                           errors: dict[str, str] | None = None,
                           error: str | None = None) -> None:
        values: dict[str, object] = {"updated_at": _now()}
        for k, v in (("ts", ts), ("state", state), ("snapshots", snapshots),
                     ("errors", errors)):
            if v is not None:
                values[k] = v
        if error is not None or state == DONE:
            values["last_error"] = error
        async with self.store.sessions.begin() as s:
            await s.execute(update(FleetPostRow).where(FleetPostRow.id == fleet_id)
                            .values(**values))

    async def pending_fleets(self, limit: int = 20) -> list[FleetPost]:
        stale = _now() - CLAIM_LEASE
        async with self.store.sessions() as s:
            rows = (await s.scalars(
                select(FleetPostRow)
                .where(or_(FleetPostRow.state == PENDING,
                           and_(FleetPostRow.state == DELIVERING,
                                FleetPostRow.updated_at < stale)))
                .order_by(FleetPostRow.id).limit(limit))).all()
            return [_fleet(r) for r in rows]

    async def claim_fleet(self, fleet: FleetPost) -> bool:
        """Compare-and-set, as `claim`: one replica posts the fleet table."""
        async with self.store.sessions.begin() as s:
            res = await s.execute(
                update(FleetPostRow)
                .where(FleetPostRow.id == fleet.id, FleetPostRow.state == fleet.state,
                       FleetPostRow.attempts == fleet.attempts)
                .values(state=DELIVERING, owner=OWNER, attempts=FleetPostRow.attempts + 1,
                        updated_at=_now()))
            return bool(getattr(res, "rowcount", 0))

    async def keep_fleet_alive(self, fleet_id: int, capture: asyncio.Task[Any]) -> None:
        """While `capture` runs, touch its row every FLEET_BEAT_S: a row left
        untouched (the process died, on any machine) is taken over."""
        while not capture.done():
            await asyncio.sleep(FLEET_BEAT_S)
            if capture.done():
                return
            try:
                async with self.store.sessions.begin() as s:
                    await s.execute(update(FleetPostRow).where(
                        FleetPostRow.id == fleet_id, FleetPostRow.state == RUNNING)
                        .values(updated_at=_now()))
            except Exception as e:  # the database away: the next beat
                log.warning("fleet post %d: heartbeat failed: %s", fleet_id, e)

    async def requeue_orphan_fleets(self, gone: Callable[[str], bool],
                                    lease: timedelta = FLEET_LEASE) -> int:
        """Fleet tables whose process died while capturing (or posting) them:
        `gone(owner)` says so for processes this one can see; for others, a
        running row whose heartbeat stopped for `lease`."""
        live = FleetPostRow.state.in_((RUNNING, DELIVERING))
        async with self.store.sessions() as s:
            owners = (await s.execute(select(FleetPostRow.id, FleetPostRow.owner)
                                      .where(live))).all()
            ids = {i for i, owner in owners if gone(owner)}
            ids |= set((await s.scalars(select(FleetPostRow.id).where(
                FleetPostRow.state == RUNNING,
                FleetPostRow.updated_at < _now() - lease))).all())
        if not ids:
            return 0
        async with self.store.sessions.begin() as s:
            res = await s.execute(update(FleetPostRow)
                                  .where(FleetPostRow.id.in_(ids), live)
                                  .values(state=PENDING, updated_at=_now()))
            return int(getattr(res, "rowcount", 0) or 0)

    async def count_fleets(self, state: str) -> int:
        async with self.store.sessions() as s:
            return int(await s.scalar(select(func.count()).select_from(FleetPostRow).where(
                FleetPostRow.state == state)) or 0)
