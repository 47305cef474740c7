"""The alerts notifier on Slack: an alert's capture as the channel sees it,
built from the Slack bot's parts: the progress message (LiveMessage), the
slack_posts row that lets any replica find and update it later (Posts), the
summary and details (Delivery).

It shares CaptureTracker with HostsnapBot.capture_one, with what differs for alerts: nobody
requested it (the message names the alert instead), the route picks the
collectors and the channel, and the thread starts with the alert itself.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from bot.alerts.payloads import Alert
from bot.alerts.ports import Job
from bot.render import slack as render
from bot.render import slack_alerts as messages
from bot.render.slack import Message
from bot.slack.api import SlackRejected, SlackUnavailable
from bot.slack.bot import HostsnapBot
from bot.slack.live import LiveMessage
from bot.slack.tracker import CaptureTracker
from collectors import registry

log = logging.getLogger(__name__)


class AlertSlack:
    """The alerts domain's notifier port (bot/alerts/ports.py) on Slack."""

    def __init__(self, bot: HostsnapBot) -> None:
        self.bot = bot

    async def capture(self, job: Job, deadline: float,
                      on_snapshot: Callable[[str], Awaitable[None]]
                      ) -> tuple[str | None, str, str]:
        """Capture, showing progress in the channel, then the summary with
        details and the alert in the thread. Returns (snapshot id, its status,
        error)."""
        bot = self.bot
        names = [c.name for c in registry.resolve(job.collectors or
                                                  bot.settings.capture.collectors)]
        tracker = CaptureTracker(
            bot.api, bot.posts, job.channel, None, bot.slack.update_interval, names,
            lambda states, sid, host_state: messages.progress(
                job.alert, job.host.name, states, snapshot_id=sid, host_state=host_state),
            on_snapshot=on_snapshot)
        live = tracker.live
        why = asyncio.create_task(self._thread_reply(live, job), name="alert-why")

        try:
            view, error = await tracker.follow(
                lambda progress: bot.captures.capture(
                    job.host, trigger="alert", actor=job.actor, collectors=job.collectors,
                    on_progress=progress, deadline=deadline),
                bot.snapshots.find)
        except asyncio.CancelledError:
            why.cancel()
            raise
        bot.metrics.inc("hostsnap_alert_captures_total", status=view.status if view else "failed")
        if view is None:
            await live.finish(render.failed_message(job.host.name, error))
            await _settle(why)
            return None, "failed", error
        p = await tracker.current_post(view.id)
        await _settle(why)  # the alert first in the thread, then the details
        await bot.delivery.deliver(p, view, live)
        return view.id, view.status, view.error or ""

    async def _thread_reply(self, live: LiveMessage, job: Job) -> None:
        ts = await live.posted()
        if ts is not None:
            await self.post(job.channel, ts, messages.fired(job.alert, job.host.name, job.route))

    async def resolved(self, channel: str, thread_ts: str, alert: Alert, host: str,
                       firing_since: datetime | None, *, covered: bool) -> bool:
        return await self.post(channel, thread_ts, messages.resolved(
            alert, host, firing_since, covered=covered))

    async def post(self, channel: str, thread_ts: str, msg: Message) -> bool:
        """A reply in a thread; best effort (logged when Slack will not take it)."""
        try:
            await self.bot.api.post(channel, msg, thread_ts=thread_ts)
            return True
        except (SlackUnavailable, SlackRejected) as e:
            log.warning("alert reply in %s not posted: %s", channel, e)
            return False


async def _settle(task: asyncio.Task[None], timeout: float = 10.0) -> None:
    """Wait for a side task, bounded; its failure is logged, never raised."""
    done, _ = await asyncio.wait({task}, timeout=timeout)
    if not done:
        task.cancel()
    elif not task.cancelled() and task.exception() is not None:
        log.warning("alert reply failed: %s", task.exception())
