"""One host's capture as a Slack message: per-collector progress in a
LiveMessage, and the slack_posts row (created with the first progress event,
its ts recorded once the message is up) that lets any replica finish or
retry the post later. Shared by `/snapshot` and alert-triggered captures."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from bot.capture.progress import CaptureOutcome, OnProgress, ProgressEvent
from bot.render.slack import Message
from bot.slack.api import SlackApi
from bot.slack.live import LiveMessage
from bot.slack.posts import AWAITING, PENDING, RUNNING, Post, Posts
from bot.store.views import SnapshotView

#: (collector states, snapshot id, host state) -> the progress message
RenderProgress = Callable[[dict[str, str], "str | None", str], Message]


class CaptureTracker:
    def __init__(self, api: SlackApi, posts: Posts, channel: str, thread_ts: str | None,
                 interval: float, collectors: list[str], render: RenderProgress, *,
                 requested_by: str = "", details: bool = True,
                 on_snapshot: Callable[[str], Awaitable[None]] | None = None,
                 thread: asyncio.Future[str] | None = None) -> None:
        self.posts = posts
        self.channel = channel
        self.thread_ts = thread_ts
        self.requested_by = requested_by
        #: post the details in the thread once done (a fleet's thread holds only
        #: the hosts' summaries: details come with the Details button)
        self.details = details
        self.render = render
        self.on_snapshot = on_snapshot
        self.states = dict.fromkeys(collectors, "waiting")
        self.post: Post | None = None
        #: the capture runs through a warm session (a host refusing new logins)
        self.warm = False
        self._lock = asyncio.Lock()  # the first event and the first post race to write the row
        self.live = LiveMessage(api, channel, thread_ts, interval, on_posted=self._remember,
                                thread=thread)
        self.live.start(render(self.states, None, "connecting"))

    @property
    def snapshot_id(self) -> str | None:
        return self.post.snapshot_id if self.post is not None else None

    async def _remember(self, ts: str) -> None:
        async with self._lock:
            if self.post is not None and self.post.ts is None:
                await self.posts.update(self.post.id, ts=ts, thread_ts=self.live.thread_ts,
                                        state=RUNNING if self.post.state == AWAITING else None)

    async def track(self, snapshot_id: str) -> Post:
        async with self._lock:
            if self.post is None:
                self.post = await self.posts.create(
                    snapshot_id, self.channel, ts=self.live.ts, thread_ts=self.live.thread_ts,
                    requested_by=self.requested_by, details_posted=not self.details,
                    state=AWAITING if self.live.ts is None and self.live.waiting_for_thread
                    else RUNNING)
                if self.on_snapshot is not None:
                    await self.on_snapshot(snapshot_id)
            return self.post

    async def on_progress(self, ev: ProgressEvent) -> None:
        await self.track(ev.snapshot_id)
        self.warm = self.warm or ev.warm
        if ev.collector is None:
            host_state = ev.status
        else:
            self.states[ev.collector] = ev.status
            host_state = "running"
        self.live.show(self.render(self.states, ev.snapshot_id, host_state))

    async def follow(self, capture: Callable[[OnProgress], Awaitable[CaptureOutcome]],
                     find: Callable[[str], Awaitable[SnapshotView]]
                     ) -> tuple[SnapshotView | None, str]:
        """Run `capture` with this message following its progress. Returns the
        snapshot (also one that failed after it was created; None when none was
        made) and the error. Stopped mid-capture, the snapshot is `interrupted`
        and the post left pending: stop() or the next start tells the channel."""
        try:
            outcome = await capture(self.on_progress)
        except asyncio.CancelledError:
            if self.post is not None and not self.live.waiting_for_thread:
                await asyncio.shield(self.posts.update(self.post.id, state=PENDING))
            raise
        view = outcome.snapshot
        if view is None and self.snapshot_id is not None:
            view = await find(self.snapshot_id)
        return view, outcome.error or ("" if view is not None else "unknown error")

    async def current_post(self, snapshot_id: str) -> Post:
        """The post row as it is now (its ts may have been written meanwhile)."""
        p = await self.track(snapshot_id)
        return await self.posts.get(p.id) or p
