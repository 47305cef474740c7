"""One Slack message that follows a capture: posted at once ("Capturing web-03
— hold the restart"), updated as collectors finish, then replaced by the
summary.

Collectors finish in bursts; Slack allows about one update per second per
message. So updates are coalesced: at most one per `interval`, always showing
the latest state; states in between are skipped, never queued. Progress is
best effort (a lost update is harmless); the final message is not: `finish`
reports whether Slack took it, so the caller can keep it for later.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from bot.render.slack import Message
from bot.slack.api import SlackApi, SlackRejected, SlackUnavailable

log = logging.getLogger(__name__)

#: chat.update's answer when the message was deleted in Slack
GONE = "message_not_found"


class LiveMessage:
    def __init__(self, api: SlackApi, channel: str, thread_ts: str | None, interval: float,
                 on_posted: Callable[[str], Awaitable[None]] | None = None, *,
                 thread: asyncio.Future[str] | None = None) -> None:
        """`thread`: the ts of a thread not posted yet (a fleet's message
        waiting for its turn in the channel); the message waits for it and
        never goes to the top of the channel instead."""
        self.api = api
        self.channel = channel
        self.thread_ts = thread_ts
        self._thread = thread
        self.interval = interval
        self.on_posted = on_posted
        self.ts: str | None = None
        self.error: str | None = None
        self.updates = 0
        self._posting: asyncio.Task[None] | None = None
        self._flusher: asyncio.Task[None] | None = None
        self._latest: Message | None = None
        self._last_sent = 0.0

    def start(self, msg: Message) -> None:
        """Post the first message in the background: the capture does not wait."""
        self._posting = asyncio.create_task(self._post(msg), name="slack-post")

    @property
    def waiting_for_thread(self) -> bool:
        return self._thread is not None and not self._thread.done()

    def abandon(self) -> None:
        """Stop waiting for the thread: the final state is queued instead."""
        for t in (self._posting, self._flusher):
            if t is not None and not t.done():
                t.cancel()

    async def _post(self, msg: Message) -> None:
        if self._thread is not None:
            self.thread_ts = await asyncio.shield(self._thread)
        try:
            self.ts = await self.api.post(self.channel, msg, thread_ts=self.thread_ts)
            self._last_sent = time.monotonic()
        except (SlackUnavailable, SlackRejected) as e:
            self.error = str(e)
            log.warning("could not post in %s: %s", self.channel, e)
            return
        if self.on_posted is not None:
            await self.on_posted(self.ts)

    async def posted(self) -> str | None:
        if self._posting is not None:
            await asyncio.shield(self._posting)
        return self.ts

    def show(self, msg: Message) -> None:
        """Show `msg` soon; a newer one replaces it if it is not sent yet."""
        self._latest = msg
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name="slack-progress")

    async def _wait_turn(self) -> None:
        delay = self._last_sent + self.interval - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)

    async def _flush(self) -> None:
        if await self.posted() is None:
            return  # never reached Slack: nothing to update
        # a state shown while the previous one was on its way is sent next (else
        # the last progress of a quiet spell would never be seen)
        while self._latest is not None:
            await self._wait_turn()
            msg, self._latest = self._latest, None
            if msg is None or self.ts is None:
                return
            try:
                await self.api.update(self.channel, self.ts, msg)
                self.updates += 1
            except (SlackUnavailable, SlackRejected) as e:
                log.info("progress update skipped: %s", e)
            finally:
                self._last_sent = time.monotonic()

    async def finish(self, msg: Message) -> bool:
        """Replace the progress by `msg` (or post it, if the first post never
        got through). True when Slack has it."""
        if self._flusher is not None and not self._flusher.done():
            self._flusher.cancel()  # the final state supersedes any progress
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        self._latest = None
        ts = await self.posted()
        try:
            if ts is None:
                self.ts = await self.api.post(self.channel, msg, thread_ts=self.thread_ts)
                if self.on_posted is not None:
                    await self.on_posted(self.ts)
            else:
                await self._wait_turn()
                try:
                    await self.api.update(self.channel, ts, msg)
                except SlackRejected as e:
                    if e.error != GONE:
                        raise
                    # someone deleted the progress: the result still must be seen
                    self.ts = await self.api.post(self.channel, msg, thread_ts=self.thread_ts)
        except SlackUnavailable as e:
            self.error = str(e)
            return False
        finally:
            self._last_sent = time.monotonic()
        return True
