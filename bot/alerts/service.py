"""What an alert makes hostsnap do.

A webhook is answered once every alert in it is decided, never after a
capture: deciding is a few database writes (milliseconds), a capture takes
seconds and runs in the background, `concurrency` at a time. Each new firing
alert goes down this list until a step says no:

  route        no route matches       -> recorded (no_route)
  host         no label names a host  -> recorded (no_host)
               not in the inventory   -> recorded, audited (unknown_host); nothing contacted
  warm         the route asks for it  -> a warm session is kept to the host
  cooldown     host captured recently -> recorded (covered), linked to that capture
  budget       N per minute used up   -> recorded (budget)
               otherwise              -> capturing

A repeated delivery of an alert already recorded is a `duplicate`, decided by
the database's unique delivery key, so across replicas too; except a repeat
of a firing alert nothing was captured for (budget, its capture or its
coverer's failed, retry_failed_after over): that repeat decides it again,
once across replicas (Ledger.record reopens the row with a conditional
write). A resolved alert posts "resolved" in the thread of the snapshot that
covers it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from bot.alerts.auth import Authenticator
from bot.alerts.batch import Batcher
from bot.alerts.hosts import HostFinder
from bot.alerts.ledger import Claim, Firing, Ledger, Recorded, Recording, Result
from bot.alerts.payloads import Alert
from bot.alerts.ports import AlertNotifier, Job, Tasks
from bot.alerts.routing import Router
from bot.inventory import Inventory
from bot.metrics import Metrics
from bot.settings.alerts import AlertSettings
from bot.store.service import Store
from bot.watch.service import Held, WatchService, alert_holder

log = logging.getLogger(__name__)

#: how often expired warm sessions, cooldowns and budget slots are cleaned up
MAINTENANCE_S = 30.0
#: how often a resolution checks whether its snapshot's message is up yet
RESOLVE_POLL_S = 0.25
#: delivery keys this process has seen, answered without the database
SEEN_KEYS = 50_000
#: how long a repeat of an alert whose outcome may still change (budget,
#: covered, a capture running) is answered from memory before the database is
#: asked again: a storm's repeats stay cheap (a 1 s recheck took the grouped
#: benchmark's p99 from 32 to 99 ms), and Alertmanager's next repeat, minutes
#: later (group_interval, repeat_interval), reaches the database
RECHECK_S = 10.0
#: outcomes after which this process asks the database again on a repeat
RECHECK = ("budget", "covered")
#: alerts of one webhook decided at once (each takes a pooled connection)
DECIDE_PARALLEL = 8
#: what a warm route's hold says in the webhook's answer
WARM_SAID = {Held.LOCAL: "this machine needs no warm session",
             Held.FULL: "not kept warm: watch.max_sessions reached",
             Held.ALREADY: "already kept warm", Held.KEPT: "warm session kept"}


@dataclass
class Outcome:
    """One alert's answer in the webhook response."""

    alertname: str
    fingerprint: str
    status: str
    outcome: str
    detail: str
    host: str = ""
    route: str = ""

    def json(self) -> dict[str, str]:
        out = {"alertname": self.alertname, "fingerprint": self.fingerprint,
               "status": self.status, "outcome": self.outcome, "detail": self.detail}
        if self.host:
            out["host"] = self.host
        if self.route:
            out["route"] = self.route
        return out


@dataclass
class Decided:
    outcome: Outcome
    result: Result | None = None
    job: Job | None = None
    resolution: Firing | None = None


class AlertService:
    def __init__(self, settings: AlertSettings, *, store: Store, inventory: Inventory,
                 watch: WatchService, notifier: AlertNotifier, tasks: Tasks,
                 metrics: Metrics, capture_deadline: float) -> None:
        self.settings = settings
        self.store = store
        self.tasks = tasks
        self.metrics = metrics
        #: seconds one capture may take (the [capture] deadline)
        self.capture_deadline = capture_deadline
        self.ledger = Ledger(store)
        self.router = Router(settings)
        self.finder = HostFinder(inventory, settings.host_labels, settings.workload_labels)
        self.notifier = notifier
        self.warm = watch
        #: secrets resolved now: a missing variable stops `serve` at start-up
        self.receivers = {r.name: Authenticator.of(r) for r in settings.receivers}
        self._sem = asyncio.Semaphore(settings.concurrency)
        self._maintenance: asyncio.Task[None] | None = None
        # a storm repeats a few keys thousands of times: once the database has
        # ruled on a key, this process answers its repeats from memory (the
        # database stays the judge for the first delivery, across replicas)
        #: key -> monotonic time until which a repeat is a duplicate without asking
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._recording: dict[str, asyncio.Future[None]] = {}
        #: host -> (monotonic end of its hold, alert holding it, its capture failed),
        #: as the database said
        self._cooling: dict[str, tuple[float, int, bool]] = {}
        self._claims = Batcher(self._claim_batch)

    # -- life cycle -----------------------------------------------------------------
    async def start(self) -> None:
        if not self.settings.routes and self.receivers:
            log.warning("alerts: receivers but no routes: alerts are recorded, never captured")
        await self.ledger.warm_up()
        self._maintenance = asyncio.create_task(self._maintain(), name="alerts-maintenance")

    async def stop(self) -> None:
        """Captures in flight belong to the bot (bot.stop waits for them)."""
        if self._maintenance is not None:
            self._maintenance.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._maintenance

    async def _maintain(self) -> None:
        while True:
            await asyncio.sleep(MAINTENANCE_S)
            try:
                now = time.monotonic()
                for host, (until, _, _) in list(self._cooling.items()):
                    if until <= now:
                        del self._cooling[host]
                await self.warm.expire()
                await self.ledger.prune()
            except Exception:  # the database may be away for a while: next round
                log.exception("alerts maintenance failed")

    # -- intake ---------------------------------------------------------------------
    async def handle(self, alerts: list[Alert]) -> list[Outcome]:
        """Decide every alert of one webhook; captures start in the background.
        Alerts are decided concurrently (a group's hosts are independent; a
        host's claims queue in `_claim`), answers keep the webhook's order."""
        new = await self._record(alerts)
        # popped: a second copy of an alert in the same body is a duplicate
        plan = [(a, new.pop(a.key, None)) for a in alerts]
        sem = asyncio.Semaphore(DECIDE_PARALLEL)

        async def decide(a: Alert, rec: Recorded | None) -> Decided:
            if rec is None:
                return Decided(Outcome(a.alertname, a.fingerprint, a.status, "duplicate",
                                       "already received (same fingerprint and start); "
                                       "handled once"))
            async with sem:
                if a.status == "firing":
                    return Decided(*await self._firing(a, rec.id, rec.was))
                out, res, firing = await self._resolved(a, rec.id)
                return Decided(out, res, resolution=firing)

        decided = await asyncio.gather(*(decide(a, rec) for a, rec in plan),
                                       return_exceptions=True)
        failed = [d for d in decided if isinstance(d, BaseException)]
        ok = [d for d in decided if isinstance(d, Decided)]
        if failed:
            # recorded but undecided: forget them, so the sender's retry (it
            # gets a 5xx) is decided instead of being taken for a duplicate
            done = {d.result.id for d in ok if d.result is not None}
            lost = [(a, rec) for a, rec in plan if rec is not None and rec.id not in done]
            with contextlib.suppress(Exception):
                await self.ledger.forget([rec for _, rec in lost])
            for a, _ in lost:
                self._seen.pop(a.key, None)
        await self.ledger.finish([d.result for d in ok if d.result is not None])
        for a, d in zip(alerts, decided, strict=True):
            if isinstance(d, Decided) and d.outcome.outcome in RECHECK:
                self._remember([a.key], RECHECK_S)
        for d in ok:
            if d.job is not None:
                self.tasks.spawn(self._capture(d.job), f"alert-capture:{d.job.host.name}")
        for (a, _), maybe in zip(plan, decided, strict=True):
            if isinstance(maybe, Decided) and maybe.resolution is not None:
                self.tasks.spawn(self._post_resolved(a, maybe.resolution),
                               f"alert-resolved:{maybe.resolution.host}")
        if failed:
            raise failed[0]
        for a, d in zip(alerts, ok, strict=True):
            self.metrics.inc("hostsnap_alerts_received_total", receiver=a.receiver,
                             status=a.status)
            self.metrics.inc("hostsnap_alerts_total", receiver=a.receiver,
                             outcome=d.outcome.outcome)
        return [d.outcome for d in ok]

    async def _record(self, alerts: list[Alert]) -> dict[str, Recorded]:
        """{key: row} of the alerts this process is to decide (new, or
        reopened repeats). Keys this process has seen are not asked again
        (for RECHECK_S only when their outcome may change); a key another
        request of this process is recording right now is waited for, not
        asked in parallel (a storm's first deliveries arrive together)."""
        t = time.monotonic()
        unseen = {a.key: a for a in alerts if self._seen.get(a.key, 0.0) <= t}
        waits = [self._recording[k] for k in unseen if k in self._recording]
        mine = [a for k, a in unseen.items() if k not in self._recording]
        loop = asyncio.get_running_loop()
        futures = {a.key: loop.create_future() for a in mine}
        self._recording.update(futures)
        try:
            # seen before (its memory expired): in the database already
            known = [a for a in mine if a.key in self._seen]
            fresh = [a for a in mine if a.key not in self._seen]
            got, again = await asyncio.gather(self.ledger.intake(fresh),
                                              self.ledger.recheck(known))
            got = Recording({**got.new, **again.new}, got.unsettled | again.unsettled)
            new = got.new
            self._remember([k for k in futures if k not in got.unsettled])
            self._remember(got.unsettled, RECHECK_S)
            for f in futures.values():
                f.set_result(None)
        except BaseException as e:
            for f in futures.values():
                if isinstance(e, Exception):
                    f.set_exception(e)
                    f.exception()  # retrieved: nobody may be waiting
                else:
                    f.cancel()
            raise
        finally:
            for k in futures:
                self._recording.pop(k, None)
        if waits:
            await asyncio.gather(*waits)  # their failure is ours: the sender retries
        return new

    async def _claim(self, host: str, rid: int) -> Claim:
        """The database rules on the host and the budget, for all alerts
        deciding at the same moment in one transaction (a group's hosts
        together); a held host is remembered for up to retry_failed_after, so
        the rest of a storm is answered from memory."""
        known = self._cooling.get(host)
        if known is not None and known[0] > time.monotonic() and known[1] != rid:
            return Claim("covered", known[1], known[0] - time.monotonic(), failed=known[2])
        claim = (await self._claims([(host, rid)]))[host]
        if claim.outcome == "claimed" and claim.holder != rid:  # another alert of the batch
            claim = Claim("covered", claim.holder, claim.left)
        if claim.holder is not None:
            # remembered only for a storm's length: the holder's capture may fail
            # on another replica, which then shortens the hold in the database
            keep = min(claim.left, self.settings.retry_failed_after)
            self._cooling[host] = (time.monotonic() + keep, claim.holder, claim.failed)
        return claim

    async def _claim_batch(self, wants: list[tuple[str, int]]) -> dict[str, Claim]:
        return await self.ledger.claim(wants, self.settings.cooldown,
                                       self.settings.budget_per_minute)

    def _remember(self, keys: Iterable[str], seconds: float = math.inf) -> None:
        until = time.monotonic() + seconds
        for k in keys:
            self._seen[k] = until
            self._seen.move_to_end(k)
        while len(self._seen) > SEEN_KEYS:
            self._seen.popitem(last=False)

    async def _firing(self, a: Alert, rid: int, was: tuple[str, str] | None = None
                      ) -> tuple[Outcome, Result, Job | None]:
        """`was`: a repeat reopened this alert; its outcome and detail then."""
        again = f"; a repeat (it was {was[0]}: {was[1][:300]})" if was else ""

        def done(outcome: str, detail: str, **kw: Any) -> tuple[Outcome, Result, None]:
            res = Result(rid, outcome, detail + again, **kw)
            return (Outcome(a.alertname, a.fingerprint, a.status, outcome, detail,
                            res.host, res.route), res, None)

        decision = self.router.route(a)
        if decision is None:
            return done("no_route", f"no route matches alertname={a.alertname or '?'} "
                                    f"severity={a.severity or '?'}; recorded, not captured")
        route, rname = decision.route, decision.name
        match = self.finder.find(a.labels)
        if match.host is None:
            if match.problem == "no_host":
                labels = [*self.settings.host_labels, *self.settings.workload_labels]
                return done("no_host", f"no label names a host ({', '.join(labels)}); "
                                       "recorded, not captured", route=rname)
            what = ("not in the inventory" if match.problem == "unknown_host"
                    else "ambiguous")
            detail = f"{match.via}: {what}; recorded, nothing contacted"
            await self.store.audit(_actor(a), "refused", match.via[:255], kind=match.problem,
                                       reason=detail, fingerprint=a.fingerprint, alert_id=rid)
            return done(match.problem, detail, host=match.via, route=rname)
        host = match.host
        notes: list[str] = []
        if route.warm:
            held = await self.warm.hold(host, alert_holder(a.fingerprint),
                                        seconds=self.settings.warm_for)
            notes.append(WARM_SAID[held.outcome])
            if held.outcome is Held.KEPT:
                await self.store.audit(_actor(a), "warm", host.name, alert_id=rid,
                                           fingerprint=a.fingerprint)
        if not route.capture:
            return done("warmed" if route.warm else "recorded",
                        "; ".join([*notes, "route does not capture"]), host=host.name,
                        route=rname)
        channel = decision.channel
        assert channel is not None  # settings validation: a capturing route has a channel
        claim = await self._claim(host.name, rid)
        if claim.outcome == "covered":
            return done("covered", self._held(host.name, claim), host=host.name, route=rname,
                        channel=channel, covered_by=claim.holder)
        if claim.outcome == "budget":
            return done("budget", f"{self.settings.budget_per_minute} captures started in the "
                                  "last 60 s (budget_per_minute); recorded, captured on a "
                                  "repeat once the budget allows",
                        host=host.name, route=rname)
        detail = "; ".join([*notes, f"capturing {host.name} ({match.via}) into {channel}"])
        res = Result(rid, "capturing", detail + again, host.name, rname, channel)
        job = Job(a, rid, host, rname, channel, route.collectors)
        return (Outcome(a.alertname, a.fingerprint, a.status, "capturing", detail, host.name,
                        rname), res, job)

    def _held(self, host: str, claim: Claim) -> str:
        """Why a covered alert is not captured: whose hold, and which one."""
        if claim.failed:
            hold = min(self.settings.retry_failed_after, self.settings.cooldown)
            ago = max(0.0, hold - claim.left)
            return (f"alert #{claim.holder}'s capture of {host} failed {ago:.0f} s ago; "
                    f"retrying after retry_failed_after = {hold:g} s (in {claim.left:.0f} s); "
                    "recorded")
        return (f"{host} was captured for alert #{claim.holder} less than "
                f"{self.settings.cooldown:g} s ago (cooldown); recorded")

    async def _resolved(self, a: Alert, rid: int
                        ) -> tuple[Outcome, Result, Firing | None]:
        firing = await self.ledger.firing_for(a)
        if firing is None:
            detail = "no firing alert with this fingerprint was received; recorded"
            return (Outcome(a.alertname, a.fingerprint, a.status, "resolved", detail),
                    Result(rid, "resolved", detail), None)
        await self.warm.release(firing.host, holder=alert_holder(a.fingerprint))
        # a channel is recorded exactly when a capture was started for it or
        # covers it; an undecided one (delivered together with this) may get one
        if firing.channel is not None or not firing.decided:
            detail = "posting in the snapshot's thread"
        else:
            detail = "nothing was captured for it; recorded"
        return (Outcome(a.alertname, a.fingerprint, a.status, "resolved", detail, firing.host),
                Result(rid, "resolved", detail, firing.host, channel=firing.channel),
                None if detail.startswith("nothing") else firing)

    # -- background -----------------------------------------------------------------
    async def _capture(self, job: Job) -> None:
        async with self._sem:
            # the deadline starts when the capture does, not when it was queued
            deadline = time.monotonic() + self.capture_deadline

            async def on_snapshot(sid: str) -> None:
                await self.ledger.set_snapshot(job.alert_id, sid)

            try:
                sid, status, error = await self.notifier.capture(job, deadline, on_snapshot)
            except asyncio.CancelledError:  # stopping: the snapshot says interrupted
                with contextlib.suppress(Exception):
                    await asyncio.shield(self.ledger.set_outcome(
                        job.alert_id, "capture_failed", "interrupted: hostsnap stopped"))
                raise
            except Exception as e:
                await self.ledger.set_outcome(job.alert_id, "capture_failed",
                                              f"{type(e).__name__}: {e}")
                await self._shorten_hold(job)
                raise
        if status in ("complete", "partial"):
            await self.ledger.set_outcome(job.alert_id, "captured", f"snapshot {sid} {status}")
        else:
            where = f"snapshot {sid} {status}: " if sid else ""
            await self.ledger.set_outcome(job.alert_id, "capture_failed", where + error)
            await self._shorten_hold(job)

    async def _shorten_hold(self, job: Job) -> None:
        """No evidence was saved: the next alert for the host must not be
        "covered" by this failure for the whole cooldown."""
        hold = min(self.settings.retry_failed_after, self.settings.cooldown)
        if job.alert.key in self._seen:
            self._seen[job.alert.key] = 0.0  # its next repeat asks the database
        await self.ledger.shorten_hold(job.host.name, job.alert_id, hold)
        known = self._cooling.get(job.host.name)
        if known is not None and known[1] == job.alert_id:
            self._cooling[job.host.name] = (min(known[0], time.monotonic() + hold),
                                            job.alert_id, True)

    async def _post_resolved(self, a: Alert, firing: Firing) -> None:
        """In the thread of the snapshot covering the alert, once that message
        exists (a resolution can overtake its alert's decision or capture)."""
        wait_until = time.monotonic() + self.capture_deadline + 30.0
        where: tuple[str, str] | None = None
        cov = await self.ledger.coverage(firing.id)
        while time.monotonic() < wait_until:
            if cov.snapshot_id is not None:
                where = await self.ledger.thread_of(cov.snapshot_id, cov.channel)
                if where is not None:
                    break
            elif cov.settled:
                return  # nothing was captured for it: nowhere to post
            await asyncio.sleep(RESOLVE_POLL_S)
            cov = await self.ledger.coverage(firing.id)
        if where is None:
            log.warning("resolved %s on %s: its snapshot has no Slack message; not posted",
                        a.alertname, cov.host or firing.host)
            return
        await self.notifier.resolved(*where, a, cov.host or firing.host, firing.starts_at,
                                     covered=cov.covered_by is not None)


def _actor(a: Alert) -> str:
    return f"alert:{a.receiver}/{a.alertname}"[:255]
