"""Capture jobs shared by the bot replicas (table capture_jobs).

A request for a host inserts its job, or finds the one already queued or
running (on any replica: a partial unique index on the host's active job is
the arbiter, the same on SQLite and PostgreSQL), and then follows it. One
replica takes a job (a conditional update under the row's lock; SQLite has one
writer and one replica) and renews its lease every HEARTBEAT_S while the job
is queued or running. A job whose lease ran out belongs to a replica that
died: the survivors look for such jobs with `SELECT ... FOR UPDATE SKIP
LOCKED`, so each is taken by exactly one of them, which marks it and its
snapshot interrupted, saying what was kept.

The replica that inserts a job takes it: it holds the conversation (the
Slack message following the capture); a job is not moved to an idle replica."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store.ids import new_id
from bot.store.models import CaptureJobRow, CollectorRunRow, SnapshotRow
from bot.store.service import OWNER, Store

log = logging.getLogger(__name__)

QUEUED, RUNNING, DONE, FAILED, INTERRUPTED = "queued", "running", "done", "failed", "interrupted"
ACTIVE = (QUEUED, RUNNING)
#: seconds a job stays ours without a heartbeat: a replica stalled this long
#: (or dead) loses it
LEASE_S = 15.0
#: seconds between lease renewals (and looks for expired leases): a dead
#: replica's job is seen within LEASE_S + HEARTBEAT_S
HEARTBEAT_S = 3.0
#: why a survivor interrupted a job; the snapshot's error says it
DEAD_OWNER = "the bot replica running it stopped"


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Job:
    id: int
    host: str
    snapshot_id: str
    owner: str
    state: str
    requested_by: str
    error: str | None = None


@dataclass(frozen=True)
class Progress:
    """A followed job as the database has it now."""

    state: str
    error: str | None
    #: None until the taking replica created the snapshot
    snapshot_status: str | None
    #: collector -> status, of those that reported
    collectors: dict[str, str]


@dataclass(frozen=True)
class Interrupted:
    job_id: int
    host: str
    snapshot_id: str
    owner: str


class CaptureJobs:
    def __init__(self, store: Store, *, owner: str = OWNER, lease_s: float = LEASE_S) -> None:
        self.store = store
        self.owner = owner
        self.lease = timedelta(seconds=lease_s)
        #: jobs this process queued or runs: their leases are renewed
        self.mine: set[int] = set()
        self._pg = store.engine.dialect.name == "postgresql"

    async def enqueue(self, host: str, *, trigger: str = "cli", requested_by: str = ""
                      ) -> tuple[Job, bool]:
        """The host's active job: (a new one of ours, False), or (the one
        already queued or running on some replica, True)."""
        for _ in range(5):  # a job ending between our insert and our read: again
            t = _now()
            sid = new_id()
            try:
                async with self.store.engine.begin() as c:
                    jid = await c.scalar(insert(CaptureJobRow).values(
                        host=host, state=QUEUED, snapshot_id=sid, owner=self.owner,
                        lease_until=t + self.lease, trigger=trigger,
                        requested_by=requested_by[:255], created_at=t)
                        .returning(CaptureJobRow.id))
            except IntegrityError:
                found = await self.active(host)
                if found is not None:
                    return found, True
                continue
            assert jid is not None
            self.mine.add(jid)
            return Job(jid, host, sid, self.owner, QUEUED, requested_by), False
        raise RuntimeError(f"{host}: no capture job could be queued or found")

    async def active(self, host: str) -> Job | None:
        async with self.store.sessions() as s:
            r = await s.scalar(select(CaptureJobRow).where(
                CaptureJobRow.host == host, CaptureJobRow.state.in_(ACTIVE)))
            return _job(r) if r is not None else None

    async def take(self, job_id: int) -> bool:
        """Start running a queued job: only one replica does. False: it is not
        queued any more (a sweep interrupted it). The row lock is waited for,
        not skipped: our own heartbeat holds it for a moment every HEARTBEAT_S."""
        t = _now()
        async with self.store.engine.begin() as c:
            got = await c.scalar(select(CaptureJobRow.id).where(
                CaptureJobRow.id == job_id, CaptureJobRow.state == QUEUED)
                .with_for_update())
            if got is None:
                return False
            res = await c.execute(update(CaptureJobRow).where(
                CaptureJobRow.id == job_id, CaptureJobRow.state == QUEUED).values(
                state=RUNNING, owner=self.owner, started_at=t, lease_until=t + self.lease))
            if not res.rowcount:
                return False
        self.mine.add(job_id)
        return True

    async def finish(self, job_id: int, state: str, error: str | None = None) -> None:
        self.mine.discard(job_id)
        async with self.store.engine.begin() as c:
            await c.execute(update(CaptureJobRow).where(
                CaptureJobRow.id == job_id, CaptureJobRow.state.in_(ACTIVE)).values(
                state=state, finished_at=_now(), error=error))

    async def progress(self, job: Job) -> Progress:
        """What a replica following `job` shows: one read of the job, its
        snapshot and its collectors."""
        async with self.store.sessions() as s:
            row = (await s.execute(
                select(CaptureJobRow.state, CaptureJobRow.error, SnapshotRow.status)
                .outerjoin(SnapshotRow, SnapshotRow.id == CaptureJobRow.snapshot_id)
                .where(CaptureJobRow.id == job.id))).one()
            runs: dict[str, str] = {}
            if row[2] is not None:
                runs = {c: st for c, st in (await s.execute(
                    select(CollectorRunRow.collector, CollectorRunRow.status).where(
                        CollectorRunRow.snapshot_id == job.snapshot_id))).all()}
        return Progress(row[0], row[1], row[2], runs)

    # -- leases -----------------------------------------------------------------------
    async def beat(self) -> None:
        """Renew the leases of our jobs."""
        mine = sorted(self.mine)
        if not mine:
            return
        async with self.store.engine.begin() as c:
            await c.execute(update(CaptureJobRow).where(
                CaptureJobRow.id.in_(mine), CaptureJobRow.owner == self.owner,
                CaptureJobRow.state.in_(ACTIVE)).values(lease_until=_now() + self.lease))

    async def sweep(self, limit: int = 50) -> list[Interrupted]:
        """Jobs whose lease ran out (their replica died or stalled past the
        lease): interrupted, with their snapshots if these still say running.
        Each such job is taken by exactly one sweeping replica."""
        t = _now()
        async with self.store.engine.begin() as c:
            rows = (await c.execute(
                select(CaptureJobRow.id, CaptureJobRow.host, CaptureJobRow.snapshot_id,
                       CaptureJobRow.owner)
                .where(CaptureJobRow.state.in_(ACTIVE), CaptureJobRow.lease_until < t)
                .order_by(CaptureJobRow.id).limit(limit)
                .with_for_update(skip_locked=True))).all()
            # ours and alive (a stall of this process): not for us to judge
            gone = [Interrupted(*r) for r in rows
                    if not (r[3] == self.owner and r[0] in self.mine)]
            if not gone:
                return []
            # the conditional update decides where rows are not locked (SQLite)
            won = set((await c.scalars(update(CaptureJobRow).where(
                CaptureJobRow.id.in_([g.job_id for g in gone]),
                CaptureJobRow.state.in_(ACTIVE)).values(
                state=INTERRUPTED, finished_at=t, error=DEAD_OWNER)
                .returning(CaptureJobRow.id))).all())
            gone = [g for g in gone if g.job_id in won]
            await _interrupt_snapshots(c, [g.snapshot_id for g in gone], t)
        for g in gone:
            log.warning("capture of %s (snapshot %s) interrupted: %s %s", g.host,
                        g.snapshot_id, g.owner, DEAD_OWNER)
        return gone


async def _interrupt_snapshots(c: AsyncConnection, sids: Iterable[str], t: datetime
                               ) -> None:
    """The snapshots still `running`: interrupted, saying whether anything was kept."""
    ids = list(sids)
    saved = dict((await c.execute(
        select(CollectorRunRow.snapshot_id, func.count()).where(
            CollectorRunRow.snapshot_id.in_(ids)).group_by(CollectorRunRow.snapshot_id))).all())
    for sid in ids:
        n = int(saved.get(sid, 0))
        kept = (f"what {n} collector{'s' if n != 1 else ''} saved before that is kept" if n
                else "nothing was saved before that")
        await c.execute(update(SnapshotRow).where(
            SnapshotRow.id == sid, SnapshotRow.status == "running").values(
            status=INTERRUPTED, finished_at=t,
            error=f"capture interrupted ({DEAD_OWNER}); {kept}"))


def _job(r: CaptureJobRow) -> Job:
    return Job(r.id, r.host, r.snapshot_id, r.owner, r.state, r.requested_by, r.error)


#: told of jobs a sweep interrupted (their replica died): alerts to release,
#: messages to update
OnInterrupted = Callable[[list[Interrupted]], Awaitable[None]]


class JobKeeper:
    """This replica's part in the shared job table, every HEARTBEAT_S: renew
    the leases of its jobs, interrupt those of dead replicas, and tell whoever
    subscribed (`on_interrupted`) which ones."""

    def __init__(self, jobs: CaptureJobs) -> None:
        self.jobs = jobs
        self.on_interrupted: list[OnInterrupted] = []
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="capture-jobs")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            try:
                await self.round()
            except Exception:  # the database may be away: next round
                log.exception("capture jobs: lease renewal or sweep failed")

    async def round(self) -> list[Interrupted]:
        """One renewal and sweep; the interrupted jobs, once told."""
        await self.jobs.beat()
        gone = await self.jobs.sweep()
        for tell in self.on_interrupted if gone else ():
            try:
                await tell(gone)
            except Exception:
                log.exception("capture jobs: told of interrupted jobs, failed")
        return gone
