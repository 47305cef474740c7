"""Getting a snapshot's final state into Slack, now or later.

`deliver` renders the stored snapshot (summary in the message, details in
its thread) and records in slack_posts that Slack has it. When Slack is
unreachable the post stays `pending`; the retry loop delivers it when Slack is
back. At start-up, captures left running by a dead process are marked
interrupted and their messages are queued the same way, so the channel learns
that the capture was cut short and what was saved before.

A capture of several hosts has its fleet table delivered the same way
(`deliver_fleet`): rendered from its stored snapshots, posted by whichever
replica claims it, and then the hosts' summaries that waited for its thread
(`awaiting_thread`) are released into it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta

from bot.capture.recovery import _local_pid_gone, interrupt_dead_captures
from bot.metrics import Metrics
from bot.render.slack import (
    MAX_DETAIL_MESSAGES,
    Message,
    details_messages,
    details_text,
    summary_message,
    too_long_message,
)
from bot.render.slack_fleet import fleet_message
from bot.settings.slack import SlackSettings
from bot.slack.api import SlackApi, SlackRejected, SlackUnavailable, Upload
from bot.slack.live import GONE, LiveMessage
from bot.slack.posts import AWAITING, DELIVERING, DONE, PENDING, FleetPost, Post, Posts
from bot.store.service import OWNER, SnapshotNotFound, Store
from bot.store.views import SnapshotView
from collectors.analysis.fleet import summarize

log = logging.getLogger(__name__)


#: why a host of a fleet has no row of its own when its capture never began
NOT_STARTED = "not captured: hostsnap stopped before it began"
SAVED = ("complete", "partial")


def fleet_errors(fleet: FleetPost, views: list[SnapshotView]) -> dict[str, str | None]:
    """Why each host without saved evidence has none: as recorded, else the
    snapshot's own error, else it never started (its process stopped)."""
    errors: dict[str, str | None] = dict(fleet.errors)
    seen = {v.host for v in views}
    for v in views:
        if v.status not in SAVED:
            errors.setdefault(v.host, v.error or "nothing saved")
    for h in fleet.hosts:
        if h not in seen:
            errors.setdefault(h, NOT_STARTED)
    return errors


def _owner_gone(owner: str) -> bool:
    """A previous run of this process (same host name and pid: a container
    restarted), or a process on this machine that no longer exists."""
    return owner == OWNER or _local_pid_gone(owner)


@dataclass(frozen=True)
class Undelivered:
    reason: str  # Slack's error (not_in_channel...) or why it was unreachable
    later: bool  # kept pending: Slack was unreachable; False: Slack refused it for good


class Delivery:
    def __init__(self, api: SlackApi, store: Store, settings: SlackSettings,
                 metrics: Metrics) -> None:
        self.api = api
        self.store = store
        self.posts = Posts(store)
        self.settings = settings
        self.metrics = metrics
        #: fleet tables of dead processes are taken over once recover() ran
        self.recovered = False
        #: summaries get Open in browser ([web].base_url set; set by the context)
        self.browser = False
        #: called with a snapshot whose summary gets Open in browser: the
        #: explorer parses its dumps then, before the click (set by the context)
        self.on_browser_summary: Callable[[SnapshotView], None] | None = None

    async def _place(self, msg: Message, live: LiveMessage | None, channel: str,
                     ts: str | None, thread_ts: str | None) -> str | None:
        """Where a message goes: its live progress message, or the message it
        already has (posted anew if someone deleted it), or a new post."""
        if live is not None:
            if not await live.finish(msg):
                raise SlackUnavailable(live.error or "Slack unreachable")
            return live.ts
        if ts is not None:
            try:
                await self.api.update(channel, ts, msg)
                return ts
            except SlackRejected as e:
                if e.error != GONE:
                    raise
        return await self.api.post(channel, msg, thread_ts=thread_ts)

    async def deliver(self, post: Post, view: SnapshotView, live: LiveMessage | None = None,
                      *, warm: bool = False) -> Undelivered | None:
        """Summary, then details in the thread. None when Slack has it.
        `warm`: captured through a warm session (said in the summary)."""
        msg = summary_message(view, requested_by=post.requested_by, warm=warm,
                              browser=self.browser)
        if self.browser and self.on_browser_summary is not None:
            self.on_browser_summary(view)
        if live is not None and live.waiting_for_thread:
            # its thread (the fleet's message) is not up yet: queued, not posted
            # at the top of the channel; Posts.adopt releases it
            live.abandon()
            await self.posts.update(post.id, state=AWAITING)
            return Undelivered("waiting for its thread", later=True)
        try:
            ts = await self._place(msg, live, post.channel, post.ts, post.thread_ts)
            if ts is not None and ts != post.ts:
                await self.posts.update(post.id, ts=ts)
            root = post.thread_ts or ts
            if (self.settings.details_in_thread and not post.details_posted
                    and view.status != "failed" and root is not None):
                await self.post_details(post.channel, root, view)
                await self.posts.update(post.id, details_posted=True)
        except SlackUnavailable as e:
            # the thread its message waited for (a fleet's) may be known only
            # to the live message: kept, or the retry posts it at the top
            await self.posts.update(post.id, state=PENDING, error=str(e), attempt=True,
                                    thread_ts=live.thread_ts if live is not None else None)
            await self._count_pending()
            return Undelivered(str(e), later=True)
        except SlackRejected as e:
            # a retry would be refused the same way (bot removed from the channel...)
            log.warning("Slack refused snapshot %s in %s: %s", view.id, post.channel, e)
            await self.posts.update(post.id, state=DONE, error=str(e), attempt=True)
            return Undelivered(e.error, later=False)
        await self.posts.update(post.id, state=DONE)
        return None

    async def post_details(self, channel: str, thread_ts: str, view: SnapshotView) -> None:
        pages = details_messages(view)
        if len(pages) > MAX_DETAIL_MESSAGES:
            # a thread of 10 walls of text helps nobody: one message and a file
            await self.api.post(channel, too_long_message(view, len(pages)), thread_ts=thread_ts)
            await self.api.upload(channel, thread_ts, [Upload(
                f"hostsnap-{view.id}-details.txt", details_text(view).encode(),
                f"Details of snapshot {view.id} ({view.host})")], f"Details of {view.id}")
            return
        for page in pages:
            await self.api.post(channel, page, thread_ts=thread_ts)

    # -- the fleet table ---------------------------------------------------------------
    async def deliver_fleet(self, fleet: FleetPost, live: LiveMessage | None = None,
                            views: list[SnapshotView] | None = None) -> Undelivered | None:
        """The fleet table, rendered from its stored snapshots (or `views`, the
        same, already read), into its message. None when Slack has it; then
        the hosts' summaries waiting for its thread are queued into it."""
        if views is None:
            views = []
            for sid in fleet.snapshots.values():
                try:
                    views.append(await self.store.get_snapshot(sid))
                except SnapshotNotFound:
                    continue  # deleted since: its host counts as not captured
        msg = fleet_message(fleet.label, summarize(views), fleet_errors(fleet, views),
                            requested_by=fleet.requested_by, command=self.settings.command)
        try:
            ts = await self._place(msg, live, fleet.channel, fleet.ts, fleet.thread_ts)
        except SlackUnavailable as e:
            await self.posts.update_fleet(fleet.id, state=PENDING, error=str(e))
            await self._count_pending()
            return Undelivered(str(e), later=True)
        except SlackRejected as e:
            log.warning("Slack refused the fleet table of %s in %s: %s", fleet.label,
                        fleet.channel, e)
            await self.posts.update_fleet(fleet.id, state=DONE, error=str(e))
            return Undelivered(e.error, later=False)
        await self.posts.update_fleet(fleet.id, state=DONE, ts=ts)
        if fleet.thread_ts is None and ts is not None:
            # the hosts that finished before their thread was up: into it now
            await self.posts.adopt(list(fleet.snapshots.values()), fleet.channel, ts)
        return None

    # -- later ---------------------------------------------------------------------
    async def retry_fleets(self) -> bool:
        """One pass over fleet tables waiting for Slack. False when Slack is
        still away (the hosts' summaries would fail the same way)."""
        if self.recovered:
            # another replica (or a process on this machine) died capturing one
            await self.posts.requeue_orphan_fleets(_local_pid_gone)
        for fleet in await self.posts.pending_fleets():
            if not await self.posts.claim_fleet(fleet):
                continue  # another replica took it
            failed = await self.deliver_fleet(
                replace(fleet, state=DELIVERING, attempts=fleet.attempts + 1))
            if failed is not None and failed.later:
                return False
        return True

    async def retry_pending(self) -> int:
        """One pass over pending posts, fleet tables first (their hosts'
        summaries go in their threads); stops at the first sign Slack is still
        away. Returns how many snapshot posts were delivered."""
        delivered = 0
        if not await self.retry_fleets():
            await self._count_pending()
            return 0
        for post in await self.posts.pending():
            if not await self.posts.claim(post):
                continue  # another replica took it
            try:
                view = await self.store.get_snapshot(post.snapshot_id)
            except SnapshotNotFound:
                await self.posts.update(post.id, state=DONE, error="snapshot deleted")
                continue
            failed = await self.deliver(post, view)
            if failed is None:
                delivered += 1
            elif failed.later:
                break  # Slack still away: the rest waits for the next pass
        await self._count_pending()
        return delivered

    async def _count_pending(self) -> None:
        self.metrics.gauge("hostsnap_slack_pending_posts", await self.posts.count(PENDING)
                           + await self.posts.count_fleets(PENDING))

    async def run_retry_loop(self) -> None:
        while True:
            try:
                await self.retry_pending()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database may be down too: try again later
                log.exception("delivering pending Slack posts failed")
            await asyncio.sleep(self.settings.retry_interval)

    async def recover(self, *, stale_after: timedelta) -> list[str]:
        """At start-up: captures of dead processes become `interrupted`, and
        every message still showing progress of a capture that no longer runs
        is queued for delivery (it will say what happened)."""
        ids = await interrupt_dead_captures(self.store, stale_after=stale_after)
        await self.posts.requeue_orphans()
        # fleet tables whose process died: posted with what their hosts saved
        await self.posts.requeue_orphan_fleets(_owner_gone)
        self.recovered = True
        await self._count_pending()
        return ids
