"""The Slack bot: a thin router from commands, mentions and buttons to the
handlers (bot/slack/handlers/, one per command family); what they share
(replies, refusals, rights, work after the ack) is bot/slack/context.py.
Independent of how requests arrive (HTTP or Socket Mode, see bot/slack/app.py):
commands, mentions and button clicks in; messages, updates, files and ephemeral
explanations out.

Every entry point runs after the ack (Slack wants one within 3 s), checks its
input and the caller's rights before touching anything, and audits what it
did. Button values carry snapshot ids and all state lives in the database, so
buttons keep working across restarts.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from slack_sdk.web.async_client import AsyncWebClient

from bot.ackgate import AckGate
from bot.app import App
from bot.config import Settings
from bot.inventory import InventoryError
from bot.metrics import Metrics
from bot.render import slack as render
from bot.slack.commands import Command, CommandError, parse, snapshot_id
from bot.slack.context import SlackContext
from bot.slack.handlers.browse import BrowseHandlers
from bot.slack.handlers.capture import CaptureHandlers
from bot.slack.handlers.watch import WatchHandlers
from bot.slack.origin import Origin
from bot.store.faults import within
from bot.store.service import Store

log = logging.getLogger(__name__)

#: seconds a stopping bot spends telling Slack about the captures it cut short
CLEANUP_S = 5.0


class HostsnapBot(SlackContext):
    """The router: commands, mentions and buttons to the handlers; its life cycle."""

    def __init__(self, settings: Settings, store: Store, client: AsyncWebClient, *,
                 services: App | None = None, metrics: Metrics | None = None,
                 gate: AckGate | None = None) -> None:
        super().__init__(settings, store, client, services=services, metrics=metrics,
                         gate=gate)
        # one handler per command family (bot/slack/handlers/)
        self.capturing = CaptureHandlers(self)
        self.browsing = BrowseHandlers(self)
        self.watching = WatchHandlers(self)

    # -- life cycle -------------------------------------------------------------------
    async def start(self) -> list[str]:
        """Recover from a previous run, then keep retrying pending posts.
        Returns the snapshots found interrupted."""
        stale = timedelta(seconds=self.settings.capture.deadline * 2 + 60)
        ids = await self.delivery.recover(stale_after=stale)
        if ids:
            log.warning("captures interrupted by a restart: %s", ", ".join(ids))
        self._retry = asyncio.create_task(self.delivery.run_retry_loop(), name="slack-retry")
        self.capturing.start_jobs()  # the capture job queue shared with other replicas
        self._warm_configured()
        self.warm.start()
        return ids

    def _warm_configured(self) -> None:
        """[watch] hosts: kept warm from the start, for as long as the bot runs."""
        if not self.settings.watch.hosts:
            return
        try:
            hosts = self.inventory.resolve(self.settings.watch.hosts,
                                           max_hosts=self.settings.watch.max_sessions)
        except InventoryError as e:
            log.error("[watch] hosts: %s; none kept warm", e)
            return
        problem = self.watches.keep_local(hosts, holder="config")
        if problem:
            log.error("[watch] hosts: %s", problem)

    async def stop(self, grace: float = 10.0) -> None:
        """Let running work finish for `grace` seconds, then cut it short."""
        if self._retry is not None:
            self._retry.cancel()
            await asyncio.gather(self._retry, return_exceptions=True)
        await self.idle(grace)
        for t in list(self._tasks):
            t.cancel()  # captures end `interrupted`...
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=CLEANUP_S)
        await self.capturing.stop_jobs()  # no capture left: no lease to renew
        try:  # ...and their messages say so now if Slack is there, else at the next start
            await asyncio.wait_for(self.delivery.retry_pending(), CLEANUP_S)
        except Exception as e:
            log.warning("pending Slack posts left for the next start: %s", e)
        await self.warm.stop()  # the holds stay in the database for the other replicas
        await self.captures.pool.close()  # warm sessions: nobody captures through them now

    # -- entry points (called after the ack) ------------------------------------------
    async def on_text(self, origin: Origin, text: str) -> None:
        """A slash command's text, or a mention's text after the mention."""
        self.metrics.inc("hostsnap_slack_requests_total", kind=origin.source)
        try:
            cmd = parse(text, max_hosts=self.slack.max_hosts)
        except CommandError as e:
            await self.refuse(origin, str(e), "input", typed=text[:200])
            return
        async with self.db_or_say(origin, cmd.verb == "capture"):
            await within(self.db_deadline, self.journal.asked(
                origin.actor, f"slack_{cmd.verb}", " ".join(cmd.args),
                channel=origin.channel, source=origin.source))
            await self.run(origin, cmd)

    async def run(self, origin: Origin, cmd: Command) -> None:
        if cmd.verb == "capture":
            await self.capturing.capture(origin, cmd.args)
        elif cmd.verb == "list":
            await self.browsing.list_snapshots(origin, cmd.args[0] if cmd.args else None)
        elif cmd.verb == "show":
            await self.browsing.show(origin, cmd.args[0])
        elif cmd.verb == "diff":
            await self.browsing.diff(origin, cmd.args[0],
                                     cmd.args[1] if len(cmd.args) > 1 else None)
        elif cmd.verb == "watch":
            await self.watching.watch(origin, cmd.args)
        elif cmd.verb == "unwatch":
            await self.watching.unwatch(origin, cmd.args)
        else:
            await self.tell(origin, render.help_text(self.slack.command))

    async def on_action(self, origin: Origin, action_id: str, value: str) -> None:
        """A button click; `value` is a snapshot id (the only state a button carries)."""
        self.metrics.inc("hostsnap_slack_requests_total", kind="button")
        try:
            sid = snapshot_id(value)
        except CommandError as e:
            await self.refuse(origin, str(e), "input", action=action_id)
            return
        async with self.db_or_say(origin, action_id == render.CAPTURE_AGAIN):
            await within(self.db_deadline, self.journal.asked(
                origin.actor, "slack_button", action_id.removeprefix(render.ACTION_PREFIX),
                snapshot_id=sid, channel=origin.channel))
            if action_id == render.DETAILS:
                await self.browsing.details(origin, sid)
            elif action_id == render.CAPTURE_AGAIN:
                await self.capturing.capture_again(origin, sid)
            elif action_id == render.COMPARE:
                await self.browsing.diff(origin, sid, None)
            elif action_id == render.RAW_FILES:
                await self.browsing.raw_files(origin, sid)
            elif action_id == render.OPEN_IN_BROWSER:
                await self.browsing.open_in_browser(origin, sid)
            elif action_id.startswith(render.OPEN):
                await self.browsing.show(origin, sid)
            else:
                log.warning("unknown action %s", action_id)
