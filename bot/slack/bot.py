"""The Slack bot: a thin router from commands, mentions and buttons to the
handlers (bot/slack/handlers/, one per command family), with what they share
(replies, refusals, rights). Independent of how requests arrive (HTTP or
Socket Mode, see bot/slack/app.py): commands, mentions and button clicks in;
messages, updates, files and ephemeral explanations out.

Every entry point runs after the ack (Slack wants one within 3 s), checks its
input and the caller's rights before touching anything, and audits what it
did. Button values carry snapshot ids and all state lives in the database, so
buttons keep working across restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Coroutine
from datetime import timedelta
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.access.authz import Authorizer, MembershipCache, Need
from bot.app import App
from bot.capture.queue import CaptureQueue
from bot.config import Settings
from bot.inventory import InventoryError
from bot.metrics import Metrics
from bot.render import slack as render
from bot.slack.api import SlackApi, SlackRejected, SlackUnavailable
from bot.slack.commands import Command, CommandError, parse, snapshot_id
from bot.slack.delivery import Delivery
from bot.slack.gate import AckGate
from bot.slack.handlers.browse import BrowseHandlers
from bot.slack.handlers.capture import CaptureHandlers
from bot.slack.handlers.watch import WatchHandlers
from bot.slack.origin import NOT_A_MEMBER, Origin
from bot.slack.posts import Posts
from bot.store.faults import request_deadline, unavailable, within
from bot.store.service import SnapshotNotFound, Store
from bot.store.views import SnapshotView

log = logging.getLogger(__name__)

#: seconds a stopping bot spends telling Slack about the captures it cut short
CLEANUP_S = 5.0


class HostsnapBot:
    def __init__(self, settings: Settings, store: Store, client: AsyncWebClient, *,
                 services: App | None = None, metrics: Metrics | None = None,
                 gate: AckGate | None = None) -> None:
        self.settings = settings
        self.slack = settings.slack
        self.store = store
        self.metrics = metrics or Metrics()
        self.gate = gate or AckGate(self.metrics)
        #: the domain services, from the composition root (bot/app.py)
        self.services = services or App(settings, store)
        self.inventory = self.services.inventory
        self.captures = self.services.captures
        self.api = SlackApi(client, self.slack, self.metrics)
        self.authz = Authorizer(settings.authz, MembershipCache(
            self.api.usergroup_members, self.slack.usergroup_cache_s))
        self.posts = Posts(store)
        self.snapshots = self.services.snapshots
        self.journal = self.services.journal
        self.delivery = Delivery(self.api, store, self.slack, self.metrics)
        #: captures this bot runs at once (the [capture] concurrency); waiting
        #: for a slot is bounded by [capture] queue_timeout, not the deadline
        self.capture_slots = CaptureQueue(settings.capture.concurrency,
                                          settings.capture.queue_timeout)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._retry: asyncio.Task[None] | None = None
        #: warm sessions every replica keeps (`/snapshot watch`, alerts)
        self.warm = self.services.holds
        self.watches = self.services.watches
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

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Work after the ack: tracked, so shutdown can wait and errors are
        logged; it starts once the acks in flight are out (bot/slack/gate.py)."""
        async def after_acks() -> Any:
            try:
                await self.gate.wait()
            except asyncio.CancelledError:
                coro.close()  # stopped before it began: never started, nothing to undo
                raise
            return await coro

        task = asyncio.create_task(after_acks(), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s failed", task.get_name(), exc_info=task.exception())

    @property
    def busy(self) -> bool:
        return bool(self._tasks)

    async def idle(self, timeout: float = 30.0) -> None:
        """Wait until every request in flight is answered (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        while self._tasks and time.monotonic() < deadline:
            await asyncio.wait(set(self._tasks), timeout=deadline - time.monotonic())

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
            elif action_id.startswith(render.OPEN):
                await self.browsing.show(origin, sid)
            else:
                log.warning("unknown action %s", action_id)

    @property
    def db_deadline(self) -> float:
        return request_deadline(self.settings.database_timeout)

    @contextlib.asynccontextmanager
    async def db_or_say(self, origin: Origin, capture: bool) -> AsyncIterator[None]:
        """A database that is away or stalls is told to the requester within
        database_timeout, never a silence: the command is not half done (its
        first step, the audit row, needs the database)."""
        try:
            yield
        except Exception as e:
            if not unavailable(e):
                raise
            log.error("slack request of %s not served: database unavailable: %s",
                      origin.actor, e or type(e).__name__)
            done = "nothing was captured" if capture else "nothing was done"
            await self.tell(origin, f"Database unavailable, {done}: try again in a minute.")

    # -- helpers --------------------------------------------------------------------
    async def refuse(self, origin: Origin, text: str, why: str, **detail: Any) -> None:
        """An ephemeral explanation to the requester only; audited."""
        self.metrics.inc("hostsnap_slack_refusals_total", reason=why)
        await self.journal.refused(origin.actor, detail.pop("target", ""), reason=text,
                                   kind=why, channel=origin.channel, source=origin.source,
                                   **detail)
        await self.tell(origin, text)

    async def tell(self, origin: Origin, text: str) -> None:
        """Only the requester sees it: chat.postEphemeral, or the command's
        response_url where the bot is not a channel member."""
        await self.api.ephemeral(origin.channel, origin.user, text, thread_ts=origin.thread_ts,
                                 response_url=origin.response_url)

    async def reply(self, origin: Origin, msg: render.Message) -> str | None:
        """Post in the origin's thread (or top level); browsing replies are not
        queued when Slack is away: the user sees nothing and asks again."""
        try:
            return await self.api.post(origin.channel, msg, thread_ts=origin.thread_ts)
        except SlackRejected as e:
            if e.error in NOT_A_MEMBER:
                await self.tell(origin, f"I cannot post in this channel ({e.error}): "
                                        "`/invite @hostsnap`, then ask again.")
            log.warning("reply in %s refused: %s", origin.channel, e)
        except SlackUnavailable as e:
            log.warning("reply in %s failed: %s", origin.channel, e)
        return None

    async def allowed(self, origin: Origin, need: Need, group: str, target: str) -> bool:
        d = await self.authz.decide(need, user=origin.user, channel=origin.channel, group=group)
        if not d.allowed:
            await self.refuse(origin, d.reason, "authz", target=target, need=need, group=group)
        return d.allowed

    async def snapshot(self, origin: Origin, sid: str) -> SnapshotView | None:
        """The snapshot, if it exists and the user may see it."""
        try:
            view = await self.snapshots.find(sid)
        except SnapshotNotFound as e:
            await self.refuse(origin, f"{str(e).strip(chr(39))[:300]} — `/snapshot list` "
                              "shows the saved ones.", "input", target=sid)
            return None
        if not await self.allowed(origin, "view", view.host_group, view.host):
            return None
        return view
