"""The Slack bot's behaviour, independent of how requests arrive (HTTP or
Socket Mode, see bot/slack/app.py): commands, mentions and button clicks in;
messages, updates, files and ephemeral explanations out.

Every entry point runs after the ack (Slack wants one within 3 s), checks its
input and the caller's rights before touching anything, and audits what it
did. Button values carry snapshot ids and all state lives in the database, so
buttons keep working across restarts.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.access.authz import Authorizer, MembershipCache, Need
from bot.access.journal import Journal
from bot.capture.progress import CaptureOutcome, OnProgress
from bot.capture.service import CaptureService
from bot.config import Settings
from bot.fleet import summarize
from bot.inventory import Inventory, InventoryError, InventoryHost
from bot.metrics import Metrics
from bot.render import slack as render
from bot.render.slack_fleet import fleet_message, fleet_progress_message
from bot.render.slack_watch import holder_text, watch_message
from bot.slack.api import SlackApi, SlackRejected, SlackUnavailable, Upload
from bot.slack.commands import Command, CommandError, parse, snapshot_id
from bot.slack.delivery import Delivery
from bot.slack.gate import AckGate
from bot.slack.live import LiveMessage
from bot.slack.posts import Posts
from bot.slack.tracker import CaptureTracker
from bot.snapshots.service import NoEarlierSnapshot, SnapshotService, Viewer
from bot.store.service import SnapshotNotFound, Store
from bot.store.views import SnapshotView
from bot.watch.holds import WarmHolds
from bot.watch.service import Held, WatchService, user_holder
from collectors import registry
from collectors.transport.base import TransportError

log = logging.getLogger(__name__)

#: seconds a stopping bot spends telling Slack about the captures it cut short
CLEANUP_S = 5.0
#: Slack's errors for "the bot is not in that channel"
NOT_A_MEMBER = frozenset({"not_in_channel", "channel_not_found", "is_archived"})
#: seconds a multi-host capture waits for its channel message before the
#: hosts' own messages go to the top of the channel instead of its thread
FLEET_POST_WAIT_S = 2.0
#: seconds a multi-host capture keeps trying to post its fleet summary
FLEET_RETRY_S = 600.0
#: seconds `/snapshot watch` waits to say whether the sessions are up
WATCH_READY_S = 5.0
#: raw files per files_upload_v2 call (files.completeUploadExternal takes a list)
UPLOAD_BATCH = 10


@dataclass(frozen=True)
class Origin:
    """Who asked, and where the answer goes."""

    user: str
    channel: str
    #: answer in this thread; None: a new message at the top of the channel
    thread_ts: str | None = None
    source: str = "command"  # command, mention, button
    #: for buttons: the thread the clicked message sits in (None: top level)
    message_thread_ts: str | None = None
    #: commands and buttons: answers only the requester sees, even where the
    #: bot is not a channel member
    response_url: str | None = None

    @property
    def actor(self) -> str:
        return f"slack:{self.user}"

    @property
    def viewer(self) -> Viewer:
        return Viewer(self.actor, "slack", self.channel)


class HostsnapBot:
    def __init__(self, settings: Settings, store: Store, client: AsyncWebClient, *,
                 capture: CaptureService | None = None, metrics: Metrics | None = None,
                 gate: AckGate | None = None) -> None:
        self.settings = settings
        self.slack = settings.slack
        self.store = store
        self.metrics = metrics or Metrics()
        self.gate = gate or AckGate(self.metrics)
        self.inventory = capture.inventory if capture else Inventory(settings)
        self.captures = capture or CaptureService(settings, store, self.inventory)
        self.api = SlackApi(client, self.slack, self.metrics)
        self.authz = Authorizer(settings.authz, MembershipCache(
            self.api.usergroup_members, self.slack.usergroup_cache_s))
        self.posts = Posts(store)
        self.snapshots = SnapshotService(store)
        self.journal = Journal(store)
        self.delivery = Delivery(self.api, store, self.slack, self.metrics)
        self._sem = asyncio.Semaphore(settings.capture.concurrency)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._retry: asyncio.Task[None] | None = None
        #: warm sessions every replica keeps (`/snapshot watch`, alerts)
        self.warm = WarmHolds(store, self.captures.pool, self.inventory,
                              settings.watch.sync_interval)
        self.watches = WatchService(self.warm)

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
        for h in hosts:
            if h.is_local:
                continue
            try:
                self.captures.pool.warm(h, holder="config")
            except TransportError as e:
                log.error("[watch] hosts: %s", e)
                break

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
        await self.journal.asked(origin.actor, f"slack_{cmd.verb}", " ".join(cmd.args),
                                 channel=origin.channel, source=origin.source)
        await self.run(origin, cmd)

    async def run(self, origin: Origin, cmd: Command) -> None:
        if cmd.verb == "capture":
            await self.capture(origin, cmd.args)
        elif cmd.verb == "list":
            await self.list_snapshots(origin, cmd.args[0] if cmd.args else None)
        elif cmd.verb == "show":
            await self.show(origin, cmd.args[0])
        elif cmd.verb == "diff":
            await self.diff(origin, cmd.args[0], cmd.args[1] if len(cmd.args) > 1 else None)
        elif cmd.verb == "watch":
            await self.watch(origin, cmd.args)
        elif cmd.verb == "unwatch":
            await self.unwatch(origin, cmd.args)
        else:
            await self.reply(origin, render.help_message(self.slack.command))

    async def on_action(self, origin: Origin, action_id: str, value: str) -> None:
        """A button click; `value` is a snapshot id (the only state a button carries)."""
        self.metrics.inc("hostsnap_slack_requests_total", kind="button")
        try:
            sid = snapshot_id(value)
        except CommandError as e:
            await self.refuse(origin, str(e), "input", action=action_id)
            return
        await self.journal.asked(origin.actor, "slack_button", action_id.removeprefix(
            render.ACTION_PREFIX), snapshot_id=sid, channel=origin.channel)
        if action_id == render.DETAILS:
            await self.details(origin, sid)
        elif action_id == render.CAPTURE_AGAIN:
            await self.capture_again(origin, sid)
        elif action_id == render.COMPARE:
            await self.diff(origin, sid, None)
        elif action_id == render.RAW_FILES:
            await self.raw_files(origin, sid)
        elif action_id.startswith(render.OPEN):
            await self.show(origin, sid)
        else:
            log.warning("unknown action %s", action_id)

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

    # -- capture --------------------------------------------------------------------
    async def capture(self, origin: Origin, targets: list[str]) -> None:
        limit = min(self.slack.max_hosts, self.settings.capture.max_hosts)
        try:
            hosts = self.inventory.resolve(targets, max_hosts=limit)
        except InventoryError as e:
            await self.refuse(origin, f"{e}. Nothing was captured.", "input",
                              target=" ".join(targets)[:255])
            return
        for h in hosts:  # all or nothing: a half-refused command would confuse
            if not await self.allowed(origin, "capture", h.group, h.name):
                return
        deadline = time.monotonic() + self.settings.capture.deadline
        if len(hosts) == 1:
            self.spawn(self.capture_one(origin, hosts[0], deadline), f"capture:{hosts[0].name}")
        else:
            self.spawn(self.capture_fleet(origin, hosts, deadline, " ".join(targets)),
                       f"capture:{len(hosts)} hosts")

    async def capture_fleet(self, origin: Origin, hosts: list[InventoryHost], deadline: float,
                            label: str) -> None:
        """Several hosts: one message in the channel follows them all and ends
        saying which hosts stand out; each host's summary goes in its thread
        (a channel of ten summaries hides the one that matters)."""
        states = dict.fromkeys((h.name for h in hosts), "waiting")
        live = LiveMessage(self.api, origin.channel, origin.thread_ts, self.slack.update_interval)

        def progress() -> render.Message:
            return fleet_progress_message(label, states, requested_by=origin.user)

        live.start(progress())
        try:  # the captures wait for the parent message only briefly
            parent = await asyncio.wait_for(asyncio.shield(live.posted()), FLEET_POST_WAIT_S)
        except TimeoutError:
            parent = None
        # Slack has no nested threads: asked in a thread, everything stays in it;
        # the parent not posted (Slack away): each host at the top, as for one
        thread = origin.thread_ts or parent
        inner = replace(origin, thread_ts=thread)

        errors: dict[str, str | None] = {}

        async def one(h: InventoryHost) -> SnapshotView | None:
            def seen(state: str, error: str | None = None) -> None:
                states[h.name] = state
                if error is not None:
                    errors[h.name] = error
                live.show(progress())

            return await self.capture_one(inner, h, deadline, on_state=seen,
                                          details=thread is None)

        try:
            results = await asyncio.gather(*(one(h) for h in hosts), return_exceptions=True)
        except asyncio.CancelledError:  # stopping: say so (each host's own message does too)
            for name, st in states.items():
                if st in ("waiting", "connecting", "running"):
                    states[name] = "interrupted"
            msg = fleet_progress_message(label, states, requested_by=origin.user,
                                         interrupted=True)
            try:
                await asyncio.wait_for(asyncio.shield(live.finish(msg)), FLEET_POST_WAIT_S)
            except (TimeoutError, SlackRejected):
                pass
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
        msg = fleet_message(label, summarize(views), errors, requested_by=origin.user,
                            command=self.slack.command)
        # Slack away: the hosts' own messages are queued in slack_posts; this one
        # is retried here for a while (a stop ends it)
        give_up = time.monotonic() + FLEET_RETRY_S
        while not await live.finish(msg):
            if time.monotonic() > give_up:
                log.warning("fleet summary of %s not posted: %s", label, live.error)
                return
            await asyncio.sleep(self.slack.retry_interval)

    async def capture_one(self, origin: Origin, host: InventoryHost, deadline: float, *,
                          on_state: Callable[[str, str | None], None] | None = None,
                          details: bool = True) -> SnapshotView | None:
        """One host's message: progress, then the summary (and, with `details`,
        the details in its thread). Returns the snapshot, None if none was made."""
        names = [c.name for c in registry.resolve(self.settings.capture.collectors)]

        def render_progress(states: dict[str, str], sid: str | None,
                            host_state: str) -> render.Message:
            if on_state is not None:
                on_state(host_state, None)
            return render.progress_message(host.name, states, snapshot_id=sid,
                                           host_state=host_state, requested_by=origin.user)

        tracker = CaptureTracker(
            self.api, self.posts, origin.channel, origin.thread_ts, self.slack.update_interval,
            names, render_progress, requested_by=origin.user, details=details)

        async def capture(progress: OnProgress) -> CaptureOutcome:
            async with self._sem:
                return await self.captures.capture(
                    host, trigger="slack", actor=origin.actor, on_progress=progress,
                    deadline=deadline)

        view, error = await tracker.follow(capture, self.snapshots.find)
        self.metrics.inc("hostsnap_slack_captures_total",
                         status=view.status if view else "failed")
        if view is None:  # could not even start: nothing stored, nothing to retry
            if on_state is not None:
                on_state("failed", error)
            try:
                await tracker.live.finish(render.failed_message(
                    host.name, error, requested_by=origin.user))
            except SlackRejected as e:
                log.warning("could not report the failed capture of %s: %s", host.name, e)
            return None
        if on_state is not None:
            on_state(view.status, None)
        p = await tracker.current_post(view.id)
        failed = await self.delivery.deliver(p, view, tracker.live)
        if failed is not None and failed.reason in NOT_A_MEMBER:
            await self.tell(origin, f"Snapshot `{view.id}` of {host.name} is saved, but I "
                                    f"cannot post in this channel ({failed.reason}): "
                                    f"`/invite @hostsnap`, then "
                                    f"`{self.slack.command} show {view.id}`.")
        return view

    # -- warm sessions -----------------------------------------------------------------
    async def watch(self, origin: Origin, targets: list[str]) -> None:
        """Keep SSH sessions open to hosts at risk, in every replica; no host:
        list them."""
        pool = self.captures.pool
        if not targets:
            await self.reply(origin, watch_message(pool.status(), title="Warm sessions",
                                                   command=self.slack.command))
            return
        hosts = await self._resolve_allowed(origin, targets)
        if hosts is None:
            return
        local = [h.name for h in hosts if h.is_local]
        holder = user_holder("slack", origin.user)
        started = []
        for h in hosts:
            if h.is_local:
                continue
            held = await self.watches.hold(h, holder)
            if held.outcome is Held.FULL:
                await self.refuse(origin, f"Not keeping {h.name} warm: already "
                                          f"{self.watches.max_sessions} warm sessions "
                                          "(watch.max_sessions).", "limit", target=h.name)
                break
            assert held.state is not None
            started.append(held.state)
        if not started:
            if local:
                await self.tell(origin, f"{', '.join(local)} is this machine: it needs no "
                                        "warm session.")
            return
        # a few seconds to say whether they are up; they keep trying after that
        waits = [asyncio.create_task(ws.ready.wait()) for ws in started]
        await asyncio.wait(waits, timeout=WATCH_READY_S)
        for w in waits:
            w.cancel()
        names = {ws.host.name for ws in started}
        rows = [r for r in pool.status() if r["host"] in names]
        for r in rows:
            await self.journal.asked(origin.actor, "warm", str(r["host"]),
                                     channel=origin.channel, connected=r["connected"])
        await self.reply(origin, watch_message(
            rows, title="Keeping warm sessions" if len(rows) > 1 else "Keeping a warm session",
            command=self.slack.command))

    async def unwatch(self, origin: Origin, targets: list[str]) -> None:
        """Drop the Slack users' holds (whoever asked) on these hosts, in every
        replica; a host held by the config or an alert stays warm."""
        hosts = await self._resolve_allowed(origin, targets)
        if hosts is None:
            return
        lines = []
        for h in hosts:
            name = render.esc(h.name)
            if not await self.watches.holders(h.name):  # here or in another replica
                lines.append(f"{name}: no warm session")
                continue
            left = await self.watches.release(h.name, prefix="slack:")
            if left:
                rest = ", ".join(holder_text(x) for x in left)
                lines.append(f"{name}: still kept open by {rest}")
            else:
                lines.append(f"{name}: closed")
            await self.journal.asked(origin.actor, "unwarm", h.name, channel=origin.channel,
                                     closed=not left)
        await self.reply(origin, render.Message(  # the fallback is plain text: no markup
            "Warm sessions of " + ", ".join(h.name for h in hosts),
            [render.section("\n".join(lines))]))

    async def _resolve_allowed(self, origin: Origin, targets: list[str]
                               ) -> list[InventoryHost] | None:
        """Inventory hosts the requester may capture (a warm session is the first
        half of a capture), or None after telling them why not."""
        try:
            hosts = self.inventory.resolve(targets, max_hosts=self.slack.max_hosts)
        except InventoryError as e:
            await self.refuse(origin, f"{e}.", "input", target=" ".join(targets)[:255])
            return None
        for h in hosts:
            if not await self.allowed(origin, "capture", h.group, h.name):
                return None
        return hosts

    async def capture_again(self, origin: Origin, sid: str) -> None:
        view = await self.snapshot(origin, sid)
        if view is None:
            return
        # where the clicked message was: the channel stays informed, a thread stays a thread
        await self.capture(replace(origin, thread_ts=origin.message_thread_ts), [view.host])

    # -- browsing -------------------------------------------------------------------
    async def list_snapshots(self, origin: Origin, host: str | None) -> None:
        items = await self.snapshots.list(host, limit=20)
        visible, hidden = [], 0
        verdicts: dict[str, bool] = {}
        for s in items:
            if s.host_group not in verdicts:
                d = await self.authz.decide("view", user=origin.user, channel=origin.channel,
                                            group=s.host_group)
                verdicts[s.host_group] = d.allowed
            if verdicts[s.host_group]:
                visible.append(s)
            else:
                hidden += 1
        await self.reply(origin, render.list_message(visible, host, hidden))

    async def show(self, origin: Origin, sid: str) -> None:
        """The snapshot's summary (with its buttons) where asked, details in its thread."""
        view = await self.snapshot(origin, sid)
        if view is None:
            return
        await self.snapshots.show(origin.viewer, view)
        ts = await self.reply(origin, render.summary_message(view))
        root = origin.thread_ts or ts
        if root and self.slack.details_in_thread:
            await self._details_to(origin, root, view)

    async def details(self, origin: Origin, sid: str) -> None:
        view = await self.snapshot(origin, sid)
        if view is None or origin.thread_ts is None:
            return
        await self.snapshots.show(origin.viewer, view)
        await self._details_to(origin, origin.thread_ts, view)

    async def _details_to(self, origin: Origin, root: str, view: SnapshotView) -> None:
        try:
            await self.delivery.post_details(origin.channel, root, view)
        except (SlackUnavailable, SlackRejected) as e:
            log.warning("details of %s not posted: %s", view.id, e)

    async def diff(self, origin: Origin, a: str, b: str | None) -> None:
        first = await self.snapshot(origin, a)
        if first is None:
            return
        try:
            a_id, b_id = await self.snapshots.pair(first.id, b)
        except NoEarlierSnapshot as e:
            await self.reply(origin, render.snapshot_not_found(
                f"No snapshot of {e.host} before {e.snapshot_id}: nothing to compare with."))
            return
        # each side checked against the user's rights (the first one already is)
        older = first if a_id == first.id else await self.snapshot(origin, a_id)
        newer = first if b_id == first.id else await self.snapshot(origin, b_id)
        if older is None or newer is None:
            return
        d = await self.snapshots.diff(origin.viewer, older, newer)
        await self.reply(origin, render.diff_message(d))

    async def raw_files(self, origin: Origin, sid: str) -> None:
        view = await self.snapshot(origin, sid)
        if view is None:
            return
        if not await self.allowed(origin, "raw", view.host_group, view.host):
            return
        if not view.artifacts:
            await self.tell(origin, f"Snapshot {view.id} has no raw files.")
            return
        uploads: list[Upload] = []
        redactions = 0
        cut: list[str] = []
        for a in view.artifacts:
            f = await self.snapshots.raw(origin.viewer, view, a.name, redact=True,
                                         max_bytes=self.slack.max_upload_bytes)
            if f.cut:
                cut.append(a.name)
            redactions += f.redactions
            uploads.append(Upload(f"{view.id}-{a.name.replace('/', '_')}", f.data,
                                  f"{view.host} {a.name}"))
        comment = render.raw_files_message(view, len(uploads), redactions, cut)
        try:
            for i in range(0, len(uploads), UPLOAD_BATCH):
                await self.api.upload(origin.channel, origin.thread_ts,
                                      uploads[i:i + UPLOAD_BATCH], comment if i == 0 else "")
        except (SlackUnavailable, SlackRejected) as e:
            log.warning("raw files of %s not uploaded: %s", view.id, e)
            await self.tell(origin, f"Could not upload the raw files of {view.id} ({e}).")
