"""`/snapshot HOST…` and the Capture again button: one host's message follows its
capture; several hosts share one channel message with each host in its thread."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from bot.capture.jobs import Interrupted
from bot.capture.progress import JOINED, CaptureOutcome, OnProgress, ProgressEvent
from bot.inventory import InventoryError, InventoryHost
from bot.render import slack as render
from bot.render.slack_fleet import fleet_progress_message
from bot.slack.api import SlackRejected
from bot.slack.handlers import Handlers
from bot.slack.live import LiveMessage
from bot.slack.origin import NOT_A_MEMBER, Origin
from bot.slack.posts import AWAITING, DONE, PENDING, RUNNING
from bot.slack.tracker import CaptureTracker
from bot.store.views import SnapshotView
from collectors import registry

if TYPE_CHECKING:
    from bot.slack.context import SlackContext

log = logging.getLogger(__name__)

#: seconds a stopping multi-host capture gives its channel message to say so
FLEET_POST_WAIT_S = 2.0


#: a fleet capture running in this process: (channel, thread, host names)
FleetKey = tuple[str, str | None, frozenset[str]]


class CaptureHandlers(Handlers):
    """Capture commands: resolve, check rights, call the capture use case, post."""

    def __init__(self, bot: SlackContext) -> None:
        super().__init__(bot)
        #: a burst of the same `/snapshot @web` follows the one message already
        #: there instead of adding a message (and a thread of hosts) per command
        self._fleets: set[FleetKey] = set()
        self._telling: asyncio.Task[None] | None = None

    async def capture(self, origin: Origin, targets: list[str]) -> None:
        limit = min(self.bot.slack.max_hosts, self.bot.settings.capture.max_hosts)
        try:
            hosts = self.bot.inventory.resolve(targets, max_hosts=limit)
        except InventoryError as e:
            await self.bot.refuse(origin, f"{render.sentence(str(e))} Nothing was captured.",
                                  "input", target=" ".join(targets)[:255])
            return
        for h in hosts:  # all or nothing: a half-refused command would confuse
            if not await self.bot.allowed(origin, "capture", h.group, h.name):
                return
        deadline = time.monotonic() + self.bot.settings.capture.deadline
        if len(hosts) == 1:
            self.bot.spawn(self.capture_one(origin, hosts[0], deadline), f"capture:{hosts[0].name}")
        else:
            label = " ".join(targets)
            key = (origin.channel, origin.thread_ts, frozenset(h.name for h in hosts))
            if key in self._fleets:
                await self.bot.tell(origin, f"{label} is already being captured here: the "
                                            "message about it shows the result. Nothing new "
                                            "was started.")
                return
            self._fleets.add(key)  # no await since the check: a burst cannot slip through
            task = self.bot.spawn(self.capture_fleet(origin, hosts, deadline, label),
                                  f"capture:{len(hosts)} hosts")
            task.add_done_callback(lambda _: self._fleets.discard(key))

    async def capture_fleet(self, origin: Origin, hosts: list[InventoryHost], deadline: float,
                            label: str) -> None:
        """Several hosts: one message in the channel follows them all and ends
        saying which hosts stand out; each host's summary goes in its thread
        (a channel of ten summaries hides the one that matters)."""
        states = dict.fromkeys((h.name for h in hosts), "waiting")
        # kept in the database (slack_fleet_posts): a restart or another replica
        # posts the table if Slack cannot take it now (bot/slack/delivery.py)
        fleet = await self.bot.posts.create_fleet(origin.channel, origin.thread_ts, label,
                                                  [h.name for h in hosts], origin.user)
        me = asyncio.current_task()
        assert me is not None
        beat = asyncio.create_task(self.bot.posts.keep_fleet_alive(fleet.id, me),
                                   name=f"fleet-beat:{label}")
        me.add_done_callback(lambda _: beat.cancel())
        sids: dict[str, str] = {}
        saving = asyncio.Lock()  # whole-dict writes, in order: the last one has them all

        async def remember(ts: str | None = None) -> None:
            try:
                async with saving:
                    await self.bot.posts.update_fleet(fleet.id, ts=ts, snapshots=dict(sids))
            except Exception as e:  # the capture goes on; the end writes them all again
                log.warning("fleet %s: could not record its progress: %s", label, e)

        live = LiveMessage(self.bot.api, origin.channel, origin.thread_ts,
                           self.bot.slack.update_interval, on_posted=remember)

        def progress() -> render.Message:
            return fleet_progress_message(label, states, requested_by=origin.user)

        live.start(progress())
        # Slack has no nested threads: asked in a thread, everything stays in it.
        # Else each host's message goes in the fleet message's thread, never at
        # the top: the captures start now, their messages wait for that thread
        # (its turn in the channel's pacing, or Slack coming back)
        thread: asyncio.Future[str] | None = None
        if origin.thread_ts is None:
            thread = asyncio.get_running_loop().create_future()

            async def parent_up() -> None:
                ts = await live.posted()
                if ts is not None and not thread.done():
                    thread.set_result(ts)

            self.bot.spawn(parent_up(), f"fleet-parent:{label}")

        errors: dict[str, str | None] = {}

        async def one(h: InventoryHost) -> SnapshotView | None:
            def seen(state: str, error: str | None = None) -> None:
                states[h.name] = state
                if error is not None:
                    errors[h.name] = error
                live.show(progress())

            async def saved(sid: str) -> None:
                sids[h.name] = sid
                await remember()

            return await self.capture_one(origin, h, deadline, on_state=seen,
                                          details=False, thread=thread, on_snapshot=saved)

        try:
            results = await asyncio.gather(*(one(h) for h in hosts), return_exceptions=True)
        except asyncio.CancelledError:  # stopping: say so (each host's own message does too)
            for name, st in states.items():
                if st in ("waiting", "connecting", "running"):
                    states[name] = "interrupted"
            msg = fleet_progress_message(label, states, requested_by=origin.user,
                                         interrupted=True)
            told = False
            try:
                told = await asyncio.wait_for(asyncio.shield(live.finish(msg)),
                                              FLEET_POST_WAIT_S)
            except (TimeoutError, SlackRejected):
                pass
            # not told: the table of what was saved is posted later (at the
            # next start, or by another replica), its hosts' summaries in its thread
            await asyncio.shield(self.bot.posts.update_fleet(
                fleet.id, state=DONE if told else PENDING, snapshots=dict(sids),
                errors={h: e for h, e in errors.items() if e}))
            raise
        views: list[SnapshotView] = []
        for h, r in zip(hosts, results, strict=True):
            if isinstance(r, asyncio.CancelledError):
                raise r
            if isinstance(r, SnapshotView):
                views.append(r)
                if r.status not in ("complete", "partial"):
                    errors[h.name] = r.error or "nothing saved"
            elif isinstance(r, BaseException):
                log.error("capture of %s failed", h.name, exc_info=r)
                errors[h.name] = f"{type(r).__name__}: {r}"
            else:
                errors.setdefault(h.name, "could not start")
        async with saving:  # after the last `remember`
            await self.bot.posts.update_fleet(
                fleet.id, snapshots={v.host: v.id for v in views},
                errors={h: e for h, e in errors.items() if e})
        fleet = await self.bot.posts.get_fleet(fleet.id) or fleet
        failed = await self.bot.delivery.deliver_fleet(fleet, live, views)
        if failed is not None:
            # Slack away: the table and the hosts' summaries (awaiting_thread)
            # are queued; the retry loop of any replica posts them
            log.warning("fleet summary of %s not posted yet: %s", label, failed.reason)
            return
        if thread is not None and live.ts is not None:
            if not thread.done():
                thread.set_result(live.ts)
            # deliver_fleet queued the hosts that waited for this thread
            await self.bot.delivery.retry_pending()

    async def capture_one(self, origin: Origin, host: InventoryHost, deadline: float, *,
                          on_state: Callable[[str, str | None], None] | None = None,
                          details: bool = True, thread: asyncio.Future[str] | None = None,
                          on_snapshot: Callable[[str], Awaitable[None]] | None = None
                          ) -> SnapshotView | None:
        """One host's message: progress, then the summary (and, with `details`,
        the details in its thread). Returns the snapshot, None if none was made."""
        names = [c.name for c in registry.resolve(self.bot.settings.capture.collectors)]
        tracker: CaptureTracker | None = None  # bound below; the first render comes before
        #: this request joined a capture already running (here or on another replica)
        joined = False

        def render_progress(states: dict[str, str], sid: str | None,
                            host_state: str) -> render.Message:
            nonlocal joined
            if host_state == JOINED:
                joined, host_state = True, "running"
            if on_state is not None:
                on_state(host_state, None)
            return render.progress_message(host.name, states, snapshot_id=sid,
                                           host_state=host_state, requested_by=origin.user,
                                           joined=joined,
                                           warm=tracker is not None and tracker.warm)

        tracker = CaptureTracker(
            self.bot.api, self.bot.posts, origin.channel, origin.thread_ts,
            self.bot.slack.update_interval, names, render_progress, requested_by=origin.user,
            details=details, thread=thread, on_snapshot=on_snapshot)

        told = False

        async def tell_joined(sid: str) -> None:
            nonlocal told
            if not told:
                told = True
                await self.bot.tell(origin, f"{host.name} was already being captured "
                                            f"(snapshot {sid}): you joined that capture, "
                                            "nothing new was started. Its result shows in "
                                            "the message here.")

        async def capture(progress: OnProgress) -> CaptureOutcome:
            async def seen(ev: ProgressEvent) -> None:
                await progress(ev)
                if ev.status == JOINED:
                    await tell_joined(ev.snapshot_id)

            # the deadline counts from the capture's start, not from the queue
            out = await self.bot.captures.capture(
                host, trigger="slack", actor=origin.actor, on_progress=seen,
                deadline_s=self.bot.settings.capture.deadline, queue=self.bot.capture_slots)
            if out.joined and out.snapshot_id is not None:
                await tell_joined(out.snapshot_id)
            return out

        view, error = await tracker.follow(capture, self.bot.snapshots.find)
        self.bot.metrics.inc("hostsnap_slack_captures_total",
                             status=view.status if view else "failed")
        if view is None:  # could not even start: nothing stored, nothing to retry
            if on_state is not None:
                on_state("failed", error)
            if tracker.live.waiting_for_thread:  # the fleet's summary says it
                tracker.live.abandon()
                return None
            try:
                await tracker.live.finish(render.failed_message(
                    host.name, error, requested_by=origin.user))
            except SlackRejected as e:
                log.warning("could not report the failed capture of %s: %s", host.name, e)
            return None
        if on_state is not None:
            on_state(view.status, None)
        p = await tracker.current_post(view.id)
        # a sweep (a replica died with the capture) may have queued this post
        # and a retry taken it meanwhile: whoever claims it delivers it, once
        if p.state != AWAITING and not (p.state in (RUNNING, PENDING)
                                        and await self.bot.posts.claim(p)):
            return view
        failed = await self.bot.delivery.deliver(p, view, tracker.live, warm=tracker.warm)
        if failed is not None and failed.reason in NOT_A_MEMBER:
            await self.bot.tell(origin, f"Snapshot `{view.id}` of {host.name} is saved, but I "
                                        f"cannot post in this channel ({failed.reason}): "
                                        f"`/invite @hostsnap`, then "
                                        f"`{self.bot.slack.command} show {view.id}`.")
        return view


    # -- the job queue shared with the other replicas ---------------------------------
    def start_jobs(self) -> None:
        """Captures go through the shared job table from now on (the capture
        domain keeps the leases); what Slack adds: the messages of captures a
        dead replica left say so."""
        keeper = self.bot.services.job_keeper
        keeper.on_interrupted.append(self._interrupted)
        keeper.start()

    async def stop_jobs(self) -> None:
        await self.bot.services.job_keeper.stop()
        if self._telling is not None:
            self._telling.cancel()
            await asyncio.gather(self._telling, return_exceptions=True)

    async def _interrupted(self, _: list[Interrupted]) -> None:
        if self._telling is None or self._telling.done():
            # apart from the keeper: Slack may be slow, leases may not wait
            self._telling = asyncio.create_task(self._tell_interrupted(),
                                                name="capture-jobs-tell")

    async def _tell_interrupted(self) -> None:
        """The interrupted captures' messages (in any channel, asked on any
        replica) say so now, not at the next retry round."""
        try:
            await self.bot.posts.requeue_orphans()
            await self.bot.delivery.retry_pending()
        except Exception:
            log.exception("capture jobs: interrupted captures not told yet (retried later)")

    async def capture_again(self, origin: Origin, sid: str) -> None:
        view = await self.bot.snapshot(origin, sid)
        if view is None:
            return
        # where the clicked message was: the channel stays informed, a thread stays a thread
        await self.capture(replace(origin, thread_ts=origin.message_thread_ts), [view.host])
