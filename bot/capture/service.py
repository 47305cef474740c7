"""Capture orchestration: resolve -> connect -> collect -> store, per host;
fan-out with bounded concurrency, per-host single-flight and one deadline."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from bot.capture.jobs import (
    ACTIVE,
    DONE,
    FAILED,
    INTERRUPTED,
    LEASE_S,
    CaptureJobs,
    Job,
)
from bot.capture.progress import JOINED, CaptureOutcome, OnProgress, ProgressEvent
from bot.capture.queue import CaptureQueue
from bot.config import Settings
from bot.inventory import Inventory, InventoryHost
from bot.store.faults import first_line, from_database, unavailable
from bot.store.service import Store
from bot.store.views import SnapshotView
from bot.watch.sessions import SessionPool
from collectors import offload, registry
from collectors.base import CollectContext, CollectorResult, Status
from collectors.runner import run_collectors
from collectors.transport.base import TransportError

log = logging.getLogger(__name__)

#: seconds between looks at a job another replica runs
FOLLOW_POLL_S = 0.5


class CaptureService:
    def __init__(self, settings: Settings, store: Store, inventory: Inventory | None = None,
                 pool: SessionPool | None = None) -> None:
        self.settings = settings
        self.store = store
        self.inventory = inventory or Inventory(settings)
        self.pool = pool or SessionPool(self.inventory)
        offload.configure(settings.capture.workers)
        self._inflight: dict[str, asyncio.Future[SnapshotView]] = {}
        #: host -> the snapshot its running capture writes
        self._sids: dict[str, str] = {}
        #: the job table shared by the bot's replicas (`serve`); None: this
        #: process alone (CLI)
        self.jobs: CaptureJobs | None = None

    async def capture(
        self, host: InventoryHost, *, trigger: str = "cli", actor: str = "",
        collectors: list[str] | None = None, on_progress: OnProgress | None = None,
        deadline: float | None = None, deadline_s: float | None = None,
        queue: CaptureQueue | None = None,
    ) -> CaptureOutcome:
        """One host. A second request for a host being captured joins it (in
        this process, or with `jobs`, on any replica sharing the database).
        With `queue`, the capture first waits (bounded) for one of its slots;
        `deadline_s` then starts counting when the capture starts (`deadline`:
        an absolute monotonic time instead)."""
        running = self._inflight.get(host.name)
        if running is not None:
            sid = self._sids.get(host.name)
            if sid is not None and on_progress is not None:
                await on_progress(ProgressEvent(host.name, sid, None, JOINED, actor))
            try:
                return CaptureOutcome(host.name, await asyncio.shield(running), joined=True)
            except TransportError as e:
                return CaptureOutcome(host.name, error=str(e), joined=True)
        fut: asyncio.Future[SnapshotView] = asyncio.get_running_loop().create_future()
        self._inflight[host.name] = fut
        job: Job | None = None
        joined = False
        try:
            if self.jobs is not None:
                job, joined = await self.jobs.enqueue(host.name, trigger=trigger,
                                                      requested_by=actor)
            if job is not None and joined:
                view = await self._follow(job, on_progress)
            else:
                async with queue.slot(host.name) if queue else contextlib.nullcontext():
                    if deadline_s is not None:
                        deadline = time.monotonic() + deadline_s
                    if job is not None and not await self.jobs_or_fail().take(job.id):
                        raise TransportError(f"{host.name}: capture job {job.id} was "
                                             "interrupted before it started")
                    view = await self._capture(host, trigger, actor, collectors, on_progress,
                                               deadline, job.snapshot_id if job else None)
                await self._end(job, DONE)
            fut.set_result(view)
            return CaptureOutcome(host.name, view, joined=joined)
        except TransportError as e:
            if not joined:
                await self._end(job, FAILED, str(e))
            fut.set_exception(e)
            fut.exception()  # retrieved: joiners that never came must not warn
            return CaptureOutcome(host.name, error=str(e), joined=joined)
        except BaseException as e:
            if not joined and job is not None:
                with contextlib.suppress(Exception):
                    await asyncio.shield(self._end(job, INTERRUPTED, f"capture aborted ({e!r})"))
            fut.set_exception(TransportError(f"{host.name}: capture aborted ({e!r})"))
            fut.exception()
            raise
        finally:
            self._inflight.pop(host.name, None)
            self._sids.pop(host.name, None)

    def jobs_or_fail(self) -> CaptureJobs:
        assert self.jobs is not None
        return self.jobs

    async def _end(self, job: Job | None, state: str, error: str | None = None) -> None:
        if job is not None and self.jobs is not None:
            await self.jobs.finish(job.id, state, error)

    async def _follow(self, job: Job, on_progress: OnProgress | None) -> SnapshotView:
        """A job another replica runs: its progress from the database, until
        its snapshot ends (or a survivor says its replica died)."""
        cs = self.settings.capture
        give_up = time.monotonic() + cs.queue_timeout + cs.deadline + LEASE_S + 30
        shown: dict[str, str] = {}
        announced = False
        while time.monotonic() < give_up:
            p = await self.jobs_or_fail().progress(job)
            if p.snapshot_status is not None:
                if on_progress is not None:
                    if not announced:
                        await on_progress(ProgressEvent(job.host, job.snapshot_id, None,
                                                        JOINED, job.requested_by))
                        announced = True
                    for name, st in p.collectors.items():
                        if shown.get(name) != st:
                            shown[name] = st
                            await on_progress(ProgressEvent(job.host, job.snapshot_id, name, st))
                if p.snapshot_status != "running":
                    return await self.store.get_snapshot(job.snapshot_id)
            elif p.state not in ACTIVE:  # ended before it made a snapshot
                raise TransportError(p.error or f"{job.host}: capture {p.state}")
            await asyncio.sleep(FOLLOW_POLL_S)
        raise TransportError(f"{job.host}: the capture running on another replica did not "
                             f"end within {give_up - time.monotonic():.0f} s")

    async def _capture(
        self, host: InventoryHost, trigger: str, actor: str, names: list[str] | None,
        on_progress: OnProgress | None, deadline: float | None, snapshot_id: str | None = None,
    ) -> SnapshotView:
        classes = registry.resolve(names or self.settings.capture.collectors)
        expected = [c.name for c in classes]
        sid = await self.store.create_snapshot(
            host.name, group=host.group, trigger=trigger, requested_by=actor, expected=expected,
            audit_actor=actor or "cli", snapshot_id=snapshot_id)
        self._sids[host.name] = sid  # for requests joining in this process

        async def emit(collector: str | None, status: str, detail: str = "",
                       warm: bool = False) -> None:
            if on_progress is not None:
                await on_progress(ProgressEvent(host.name, sid, collector, status, detail, warm))

        t0 = time.monotonic()
        done: set[str] = set()
        try:
            await emit(None, "connecting")
            async with self.pool.session(host) as (session, warm):
                await emit(None, "connected", "warm session" if warm else "", warm)
                recorded = getattr(session, "recorded_host_key", None)
                if recorded:
                    await self.store.audit(actor or "cli", "trust_host_key", host.name,
                                           snapshot_id=sid, fingerprint=recorded)
                ctx = CollectContext(session, host.info(), self.settings.thresholds,
                                     options={"jvm": self.settings.jvm})

                async def on_event(name: str, r: CollectorResult | None) -> None:
                    if r is None:
                        await emit(name, "running")
                        return
                    await self.store.add_result(sid, r)
                    done.add(name)
                    await emit(name, str(r.status), r.error or "")

                remaining = None if deadline is None else max(0.1, deadline - time.monotonic())
                try:
                    _, cross = await asyncio.wait_for(
                        run_collectors(ctx, classes, on_event, self.settings.capture.timeouts),
                        remaining,
                    )
                except TimeoutError:
                    cross = []
                    for name in expected:
                        if name not in done:
                            await self.store.add_result(sid, CollectorResult(
                                name, Status.TIMEOUT,
                                error=f"overall deadline reached after "
                                      f"{time.monotonic() - t0:.1f}s"))
            await self.store.finish_snapshot(sid, findings=cross)
        except TransportError as e:
            await self.store.finish_snapshot(sid, status="failed", error=str(e))
            await emit(None, "failed", str(e))
            raise
        except asyncio.CancelledError:
            await asyncio.shield(self.store.finish_snapshot(
                sid, status="interrupted", error="capture cancelled"))
            raise
        view = await self.store.get_snapshot(sid)
        await emit(None, "done", view.status)
        return view

    async def capture_many(
        self, hosts: list[InventoryHost], *, trigger: str = "cli", actor: str = "",
        collectors: list[str] | None = None, on_progress: OnProgress | None = None,
        concurrency: int | None = None, deadline_s: float | None = None,
    ) -> list[CaptureOutcome]:
        """All hosts, at most `concurrency` at once; each capture has the
        deadline from its own start, and waits for a slot at most
        `capture.queue_timeout`; outcomes in the order of `hosts`."""
        cs = self.settings.capture
        queue = CaptureQueue(concurrency or cs.concurrency, cs.queue_timeout)

        async def one(h: InventoryHost) -> CaptureOutcome:
            # one host's failure is that host's, never the fleet's: the others'
            # evidence is being saved (a host whose write met a locked or
            # stalled database used to end every capture of the command)
            try:
                return await self.capture(h, trigger=trigger, actor=actor,
                                          collectors=collectors, on_progress=on_progress,
                                          deadline_s=deadline_s or cs.deadline, queue=queue)
            except Exception as e:
                if unavailable(e):
                    why = f"database unavailable ({first_line(e)}): not saved"
                elif from_database(e):
                    log.exception("capture of %s not saved", h.name)
                    why = (f"the database refused to save it ({first_line(e)}); details in "
                           "hostsnap's log")
                else:
                    log.exception("capture of %s failed", h.name)
                    why = "internal error (details in hostsnap's log)"
                return CaptureOutcome(h.name, error=f"{h.name}: {why}")

        return list(await asyncio.gather(*(one(h) for h in hosts)))
