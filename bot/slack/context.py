"""What the Slack handlers share: the Slack Web API, rights, replies and
refusals, work run after the ack, and the domain services from the
composition root. The bot (bot/slack/bot.py) is this plus the routing; the
handlers (bot/slack/handlers/) get this, never the router, so nothing in
bot/slack imports upward."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Coroutine
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.access.authz import Authorizer, MembershipCache, Need
from bot.ackgate import AckGate
from bot.app import App
from bot.capture.queue import CaptureQueue
from bot.config import Settings
from bot.metrics import Metrics
from bot.render import slack as render
from bot.slack.api import SlackApi, SlackRejected, SlackUnavailable
from bot.slack.delivery import Delivery
from bot.slack.origin import NOT_A_MEMBER, Origin
from bot.slack.posts import Posts
from bot.store.faults import request_deadline, unavailable
from bot.store.service import SnapshotNotFound, Store
from bot.store.views import SnapshotView

log = logging.getLogger(__name__)


class SlackContext:
    def __init__(self, settings: Settings, store: Store, client: AsyncWebClient, *,
                 services: App | None = None, metrics: Metrics | None = None,
                 gate: AckGate | None = None) -> None:
        self.settings = settings
        self.slack = settings.slack
        self.store = store
        self.metrics = metrics or Metrics()
        self.gate = gate or AckGate(self.metrics)
        #: the domain services, from the composition root (bot/app.py)
        self.services = services or App(settings, store, serving=True)
        self.inventory = self.services.inventory
        self.captures = self.services.captures
        self.api = SlackApi(client, self.slack, self.metrics)
        self.authz = Authorizer(settings.authz, MembershipCache(
            self.api.usergroup_members, self.slack.usergroup_cache_s))
        self.posts = Posts(store)
        self.snapshots = self.services.snapshots
        self.journal = self.services.journal
        self.delivery = Delivery(self.api, store, self.slack, self.metrics)
        self.delivery.browser = bool(settings.web.base_url)
        self.delivery.on_browser_summary = self.snapshots.warm_dumps
        #: captures this bot runs at once (the [capture] concurrency); waiting
        #: for a slot is bounded by [capture] queue_timeout, not the deadline
        self.capture_slots = CaptureQueue(settings.capture.concurrency,
                                          settings.capture.queue_timeout)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._retry: asyncio.Task[None] | None = None
        #: warm sessions every replica keeps (`/snapshot watch`, alerts)
        self.warm = self.services.holds
        self.watches = self.services.watches

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Work after the ack: tracked, so shutdown can wait and errors are
        logged; it starts once the acks in flight are out (bot/ackgate.py)."""
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
