"""Getting a snapshot's final state into Slack, now or later.

`deliver` renders the stored snapshot (summary in the message, details in
its thread) and records in slack_posts that Slack has it. When Slack is
unreachable the post stays `pending`; the retry loop delivers it when Slack is
back. At start-up, captures left running by a dead process are marked
interrupted and their messages are queued the same way, so the channel learns
that the capture was cut short and what was saved before.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta

from bot.capture.recovery import interrupt_dead_captures
from bot.metrics import Metrics
from bot.render.slack import (
    MAX_DETAIL_MESSAGES,
    details_messages,
    details_text,
    summary_message,
    too_long_message,
)
from bot.settings.slack import SlackSettings
from bot.slack.api import SlackApi, SlackRejected, SlackUnavailable, Upload
from bot.slack.live import GONE, LiveMessage
from bot.slack.posts import AWAITING, DONE, PENDING, Post, Posts
from bot.store.service import SnapshotNotFound, Store
from bot.store.views import SnapshotView

log = logging.getLogger(__name__)


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

    async def deliver(self, post: Post, view: SnapshotView, live: LiveMessage | None = None,
                      *, warm: bool = False) -> Undelivered | None:
        """Summary, then details in the thread. None when Slack has it.
        `warm`: captured through a warm session (said in the summary)."""
        msg = summary_message(view, requested_by=post.requested_by, warm=warm)
        if live is not None and live.waiting_for_thread:
            # its thread (the fleet's message) is not up yet: queued, not posted
            # at the top of the channel; Posts.adopt releases it
            live.abandon()
            await self.posts.update(post.id, state=AWAITING)
            return Undelivered("waiting for its thread", later=True)
        ts = post.ts
        try:
            if live is not None:
                if not await live.finish(msg):
                    raise SlackUnavailable(live.error or "Slack unreachable")
                ts = live.ts
            elif ts is not None:
                try:
                    await self.api.update(post.channel, ts, msg)
                except SlackRejected as e:
                    if e.error != GONE:
                        raise
                    ts = await self.api.post(post.channel, msg, thread_ts=post.thread_ts)
            else:
                ts = await self.api.post(post.channel, msg, thread_ts=post.thread_ts)
            if ts is not None and ts != post.ts:
                await self.posts.update(post.id, ts=ts)
            root = post.thread_ts or ts
            if (self.settings.details_in_thread and not post.details_posted
                    and view.status != "failed" and root is not None):
                await self.post_details(post.channel, root, view)
                await self.posts.update(post.id, details_posted=True)
        except SlackUnavailable as e:
            await self.posts.update(post.id, state=PENDING, error=str(e), attempt=True)
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

    # -- later ---------------------------------------------------------------------
    async def retry_pending(self) -> int:
        """One pass over pending posts; stops at the first sign Slack is still
        away. Returns how many were delivered."""
        delivered = 0
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
        self.metrics.gauge("hostsnap_slack_pending_posts", await self.posts.count(PENDING))

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
        await self._count_pending()
        return ids
