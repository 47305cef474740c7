"""The alerts' database side. Everything that must hold across bot replicas is
a conditional write the database arbitrates, never a read-then-write in
Python: a delivery is new when its row inserts (unique delivery key), a host
is claimed when its cooldown row inserts or an expired one updates, a budget
slot is taken when it inserts or one last taken over 60 s ago updates. Same
SQL on SQLite and PostgreSQL (INSERT ... ON CONFLICT ... RETURNING, both have it).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Table, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.alerts.batch import Batcher
from bot.alerts.payloads import Alert
from bot.alerts.views import AlertView
from bot.store.models import AlertBudgetRow, AlertCooldownRow, AlertRow, SlackPostRow
from bot.store.service import Store

RECEIVED = "received"
#: a repeat of a firing alert with one of these outcomes is decided again:
#: nothing was captured for it (budget, its capture failed, or the capture
#: covering it failed)
REOPENABLE = ("budget", "capture_failed", "covered")
#: outcomes that may still change: a repeat's "duplicate" is not final
UNSETTLED = (RECEIVED, "capturing", *REOPENABLE)
#: alert transactions at once per process on PostgreSQL (below the engine's pool_size)
PG_PARALLEL = 4


#: the budget's window: budget_per_minute capture starts in any WINDOW_S seconds
WINDOW_S = 60.0


def now() -> datetime:
    """The ledger's clock (tests set it)."""
    return datetime.now(UTC)


def _utc(dt: datetime | None) -> datetime | None:
    """Stored in UTC; SQLite gives it back without a zone."""
    if dt is None:
        return None
    return dt.astimezone(UTC) if dt.tzinfo else dt.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Firing:
    """The firing alert a resolved one ends."""

    id: int
    host: str
    channel: str | None
    outcome: str
    starts_at: datetime | None

    @property
    def decided(self) -> bool:
        return self.outcome != RECEIVED


@dataclass(frozen=True)
class Coverage:
    """The channel and snapshot covering a firing alert (its own capture's, or
    its coverer's); settled: nothing about them will change any more."""

    channel: str | None
    covered_by: int | None
    snapshot_id: str | None
    settled: bool
    host: str = ""


@dataclass(frozen=True)
class Claim:
    """claimed (this alert captures), covered (`holder` claimed the host; its
    hold ends in `left` s; `failed`: its capture failed, so the hold is
    retry_failed_after), budget (budget_per_minute captures started in the
    last 60 s)."""

    outcome: str
    holder: int | None = None
    left: float = 0.0
    failed: bool = False


@dataclass(frozen=True)
class Recorded:
    """A row a delivery made this process the decider of."""

    id: int
    #: (outcome, detail) before a repeat reopened it; None: a new row
    was: tuple[str, str] | None = None


@dataclass
class Recording:
    new: dict[str, Recorded]
    #: keys of repeats whose row may still change (not reopened this time)
    unsettled: set[str]


@dataclass
class Result:
    """What became of one new alert row (written in one batch)."""

    id: int
    outcome: str
    detail: str = ""
    host: str = ""
    route: str = ""
    channel: str | None = None
    covered_by: int | None = None


class Ledger:
    def __init__(self, store: Store) -> None:
        self.store = store
        pg = store.engine.dialect.name == "postgresql"
        self._insert = postgresql.insert if pg else sqlite.insert
        # Queue this process's transactions here rather than in the database.
        # SQLite has one writer at a time and makes the others poll for the
        # lock with sleeps of 1-100 ms. PostgreSQL: the engine keeps
        # pool_size (5) connections and opens (and then closes) a new one, for
        # 10-30 ms, for each transaction beyond them: a storm must not do that.
        self.parallel = PG_PARALLEL if pg else 1
        self._write = asyncio.Semaphore(self.parallel)
        self._record_batch = Batcher(self._record_now)
        self._finish_batch = Batcher(self._finish_now)

    @contextlib.asynccontextmanager
    async def _tx(self) -> AsyncIterator[AsyncSession]:
        async with self._write, self.store.sessions.begin() as s:
            yield s

    async def warm_up(self) -> None:
        """Open a connection and compile the intake's statements before the
        first webhook (a cold first delivery took ~100 ms, and a storm's first
        deliveries all wait for it). Rolled back: nothing is written."""
        await asyncio.gather(*(self._warm_one() for _ in range(self.parallel)))

    async def _warm_one(self) -> None:
        # unique per probe: concurrent probes (and replicas) must not wait on each other
        tag = f"warm-up {uuid.uuid4().hex}"
        probe = Alert("warm-up", "firing", tag, "", None, None, {})
        async with self._write, self.store.sessions() as s:
            tx = await s.begin()
            try:
                await s.execute(*self._record_stmt([probe]))
                await s.execute(self._claim_stmt({tag: -1}, now(), now()))
                await s.execute(select(AlertBudgetRow.slot).where(
                    AlertBudgetRow.slot < 0, AlertBudgetRow.started_at > now()))
            finally:
                await tx.rollback()

    # -- deliveries -----------------------------------------------------------------
    async def record(self, alerts: list[Alert]) -> dict[str, int]:
        """{delivery key: row id} of the alerts `intake` makes the caller's."""
        return {k: r.id for k, r in (await self.intake(alerts)).new.items()}

    async def intake(self, alerts: list[Alert]) -> Recording:
        """Insert the alerts not seen before, and reopen repeats of firing
        alerts nothing was captured for: those are this caller's to decide.
        A key already there (or inserted, or reopened, by another replica a
        moment ago) is absent: a duplicate."""
        if not alerts:
            return Recording({}, set())
        keys = {a.key for a in alerts}
        got = await self._record_batch(alerts)
        return Recording({k: r for k, r in got.new.items() if k in keys},
                         got.unsettled & keys)

    async def _record_now(self, alerts: list[Alert]) -> Recording:
        unique = list({a.key: a for a in alerts}.values())
        async with self._tx() as s:
            new = {k: Recorded(i)
                   for k, i in (await s.execute(*self._record_stmt(unique))).all()}
            again = [a.key for a in unique if a.key not in new and a.status == "firing"]
            unsettled: set[str] = set()
            if again:
                reopened, unsettled = await self._reopen(s, again)
                new.update(reopened)
            return Recording(new, unsettled)

    async def recheck(self, alerts: list[Alert]) -> Recording:
        """`intake` for repeats of alerts recorded before, reading first: most
        of them reopen nothing, and a write transaction (SQLite: the database's
        one write lock, which a running capture's writes hold at times) is
        taken only when one may. A key whose row is gone goes to `intake`."""
        if not alerts:
            return Recording({}, set())
        keys = [a.key for a in alerts]
        async with self.store.sessions() as s:
            want, rows = await self._candidates(s, keys)
        found = {r[0] for r in rows}
        missing = [a for a in alerts if a.key not in found]
        got = await self.intake(missing) if missing else Recording({}, set())
        if not want:
            return Recording(got.new, got.unsettled | {r[0] for r in rows if r[2] in UNSETTLED})
        async with self._tx() as s:
            reopened, unsettled = await self._reopen(s, [k for k in keys if k in found])
        return Recording({**got.new, **reopened}, got.unsettled | unsettled)

    async def _candidates(self, s: AsyncSession, keys: list[str]
                          ) -> tuple[dict[int, Any], list[Any]]:
        """The rows of `keys`, and those a repeat would reopen: ({id: row}, rows)."""
        coverer = aliased(AlertRow)
        rows = (await s.execute(
            select(AlertRow.delivery_key, AlertRow.id, AlertRow.outcome, AlertRow.detail,
                   AlertRow.host, coverer.outcome, AlertRow.status)
            .outerjoin(coverer, coverer.id == AlertRow.covered_by)
            .where(AlertRow.delivery_key.in_(keys)))).all()
        want = {r[1]: r for r in rows if r[6] == "firing" and (
            r[2] in ("budget", "capture_failed")
            or (r[2] == "covered" and r[5] == "capture_failed"))}
        hosts = {r[4] for r in want.values()}
        if hosts:
            t = now()
            failed = aliased(AlertRow)
            held = set((await s.scalars(
                select(AlertCooldownRow.host)
                .join(failed, failed.id == AlertCooldownRow.alert_id)
                .where(AlertCooldownRow.host.in_(hosts), AlertCooldownRow.until > t,
                       failed.outcome == "capture_failed"))).all())
            want = {i: r for i, r in want.items() if r[4] not in held}
        return want, list(rows)

    async def _reopen(self, s: AsyncSession, keys: list[str]
                      ) -> tuple[dict[str, Recorded], set[str]]:
        """Repeats of firing alerts nothing was captured for (REOPENABLE),
        unless their host is held by a failed capture (retry_failed_after not
        over): set back to `received`, with a conditional UPDATE, so one
        delivery on one replica reopens it. Returns those, and the keys of the
        others whose outcome may still change."""
        want, rows = await self._candidates(s, keys)
        reopened: dict[str, Recorded] = {}
        if want:
            got = set((await s.scalars(
                update(AlertRow)
                .where(AlertRow.id.in_(sorted(want)), AlertRow.outcome.in_(REOPENABLE))
                .values(outcome=RECEIVED, covered_by=None, snapshot_id=None)
                .returning(AlertRow.id))).all())
            reopened = {want[i][0]: Recorded(i, (want[i][2], want[i][3])) for i in got}
        unsettled = {r[0] for r in rows if r[2] in UNSETTLED and r[0] not in reopened}
        return reopened, unsettled

    def _record_stmt(self, alerts: list[Alert]) -> tuple[Any, list[dict[str, Any]]]:
        """One statement whatever the number of rows, executed with a list of
        parameters: SQLAlchemy sends it as multi-row INSERTs ("insertmanyvalues")
        from a compiled form it caches. `.values(rows)` compiled anew for each
        number of rows, 0.5 s of event loop for a group of 1000 alerts."""
        t = now()
        rows = [dict(delivery_key=a.key, receiver=a.receiver, status=a.status,
                     fingerprint=a.fingerprint, alertname=a.alertname[:255],
                     severity=a.severity[:64], starts_at=_utc(a.starts_at),
                     ends_at=_utc(a.ends_at), labels=a.labels, annotations=a.annotations,
                     url=a.url, host="", route="", channel=None, outcome=RECEIVED,
                     detail="", received_at=t)
                for a in sorted(alerts, key=lambda a: a.key)]  # one lock order: no deadlocks
        table: Table = AlertRow.__table__  # type: ignore[assignment]  # Core: not ORM bulk mode
        stmt = (self._insert(table).on_conflict_do_nothing(index_elements=["delivery_key"])
                .returning(table.c.delivery_key, table.c.id))
        return stmt, rows

    async def finish(self, results: list[Result]) -> None:
        """The decisions about new alerts (merged with other webhooks' into one
        executemany)."""
        if results:
            await self._finish_batch(results)

    async def _finish_now(self, results: list[Result]) -> None:
        # ORM bulk UPDATE by primary key: one executemany
        params = [dict(id=r.id, outcome=r.outcome, detail=r.detail[:2000], host=r.host[:255],
                       route=r.route[:64], channel=r.channel, covered_by=r.covered_by)
                  for r in results]
        async with self._tx() as s:
            await s.execute(update(AlertRow), params)

    async def forget(self, rows: list[Recorded]) -> None:
        """Rows recorded but never decided (the decision failed): gone, so a
        redelivery is new again; reopened ones get their outcome back (and
        a redelivery reopens them again)."""
        if rows:
            async with self._tx() as s:
                await s.execute(delete(AlertRow).where(
                    AlertRow.id.in_([r.id for r in rows if r.was is None]),
                    AlertRow.outcome == RECEIVED))
                for r in rows:
                    if r.was is not None:
                        await s.execute(update(AlertRow).where(
                            AlertRow.id == r.id, AlertRow.outcome == RECEIVED)
                            .values(outcome=r.was[0], detail=r.was[1]))

    async def set_snapshot(self, alert_id: int, snapshot_id: str) -> None:
        async with self._tx() as s:
            await s.execute(update(AlertRow).where(AlertRow.id == alert_id)
                            .values(snapshot_id=snapshot_id))

    async def set_outcome(self, alert_id: int, outcome: str, detail: str) -> None:
        async with self._tx() as s:
            await s.execute(update(AlertRow).where(AlertRow.id == alert_id)
                            .values(outcome=outcome, detail=detail[:2000]))

    # -- storms ---------------------------------------------------------------------
    async def claim(self, wants: list[tuple[str, int]], cooldown: float, per_minute: int
                    ) -> dict[str, Claim]:
        """Claim hosts for captures, each with a slot of the budget,
        in one transaction of a few statements however many hosts: {host:
        claim}. wants: (host, alert id) in order; the first alert asking for a
        host is the one that may capture it. A host claimed without a budget
        slot is released again (its row was absent or expired: deleting it
        leaves the same "no cooldown")."""
        first: dict[str, int] = {}
        for host, rid in wants:
            first.setdefault(host, rid)
        t = now()
        until = t + timedelta(seconds=cooldown)
        out: dict[str, Claim] = {}
        async with self._tx() as s:
            claimed = set((await s.scalars(self._claim_stmt(first, until, t))).all())
            held = [h for h in first if h not in claimed]
            if held:
                rows = await s.execute(
                    select(AlertCooldownRow.host, AlertCooldownRow.alert_id,
                           AlertCooldownRow.until, AlertRow.outcome)
                    .outerjoin(AlertRow, AlertRow.id == AlertCooldownRow.alert_id)
                    .where(AlertCooldownRow.host.in_(held)))
                for h, holder, held_until, outcome in rows.all():
                    left = ((_utc(held_until) or t) - t).total_seconds()
                    out[h] = Claim("covered", holder, max(0.0, left),
                                   failed=outcome == "capture_failed")
            order = [h for h in first if h in claimed]
            granted = await self._budget_slots(s, [first[h] for h in order], per_minute)
            for h in order[:granted]:
                out[h] = Claim("claimed", first[h], cooldown)
            if order[granted:]:
                await s.execute(delete(AlertCooldownRow).where(
                    AlertCooldownRow.host.in_(order[granted:])))
        # a held host whose row vanished meanwhile (pruned): the next alert claims it
        return {h: out.get(h, Claim("budget")) for h in first}

    async def shorten_hold(self, host: str, alert_id: int, seconds: float) -> None:
        """A failed capture: the host's cooldown held by `alert_id` ends in
        `seconds` (never later than it would have)."""
        until = now() + timedelta(seconds=seconds)
        async with self._tx() as s:
            await s.execute(update(AlertCooldownRow).where(
                AlertCooldownRow.host == host, AlertCooldownRow.alert_id == alert_id,
                AlertCooldownRow.until > until).values(until=until))

    async def interrupted(self, snapshot_ids: list[str], hold: float, detail: str) -> int:
        """Alerts whose capture was cut short with its bot replica (left
        `capturing`): capture_failed, so a repeat reopens them, and their
        host's hold ends in `hold` seconds as after any failed capture."""
        if not snapshot_ids:
            return 0
        until = now() + timedelta(seconds=hold)
        async with self._tx() as s:
            rows = (await s.execute(
                update(AlertRow).where(AlertRow.outcome == "capturing",
                                       AlertRow.snapshot_id.in_(snapshot_ids))
                .values(outcome="capture_failed", detail=detail[:2000])
                .returning(AlertRow.id, AlertRow.host))).all()
            for rid, host in rows:
                await s.execute(update(AlertCooldownRow).where(
                    AlertCooldownRow.host == host, AlertCooldownRow.alert_id == rid,
                    AlertCooldownRow.until > until).values(until=until))
        return len(rows)

    def _claim_stmt(self, first: dict[str, int], until: datetime, t: datetime) -> Any:
        """Inserted, or taken over once expired; a row still in cooldown is
        left alone and not returned."""
        ins = self._insert(AlertCooldownRow).values(
            [dict(host=h, until=until, alert_id=r) for h, r in sorted(first.items())])
        return ins.on_conflict_do_update(
            index_elements=["host"],
            set_={"until": ins.excluded.until, "alert_id": ins.excluded.alert_id},
            where=AlertCooldownRow.until <= t,
        ).returning(AlertCooldownRow.host)

    async def _budget_slots(self, s: AsyncSession, rids: list[int], per_minute: int) -> int:
        """How many of `rids` (the first ones) get a budget slot: one of the
        per_minute slots not taken within the last WINDOW_S. A slot is taken
        by a conditional upsert, so each is taken at most once per window
        whatever the number of replicas, and the slots taken within the window
        are exactly the captures started in it (a sliding minute, counted).
        A replica losing a slot to another (PostgreSQL: its upsert waits for
        the other's commit, then sees it taken) tries the next free ones.
        Bounded: each round tries slots not tried before."""
        t = now()
        cutoff = t - timedelta(seconds=WINDOW_S)
        granted = 0
        tried: set[int] = set()
        for _ in range(per_minute + 1):
            if granted >= len(rids):
                break
            busy = set((await s.scalars(select(AlertBudgetRow.slot).where(
                AlertBudgetRow.slot < per_minute, AlertBudgetRow.started_at > cutoff))).all())
            take = [n for n in range(per_minute) if n not in busy and n not in tried]
            take = take[:len(rids) - granted]
            if not take:
                break
            tried.update(take)
            # alert_id is for people reading the table; lost races may shift it
            ins = self._insert(AlertBudgetRow).values(
                [dict(slot=n, started_at=t, alert_id=rids[granted + i])
                 for i, n in enumerate(take)])
            got = await s.execute(ins.on_conflict_do_update(
                index_elements=["slot"],
                set_={"started_at": ins.excluded.started_at, "alert_id": ins.excluded.alert_id},
                where=AlertBudgetRow.started_at <= cutoff,
            ).returning(AlertBudgetRow.slot))
            granted += len(got.all())
        return granted

    async def prune(self) -> None:
        """Expired cooldowns (alerts stay; budget slots are budget_per_minute rows)."""
        async with self._tx() as s:
            await s.execute(delete(AlertCooldownRow).where(AlertCooldownRow.until < now()))

    # -- resolution -----------------------------------------------------------------
    async def firing_for(self, alert: Alert) -> Firing | None:
        """The firing alert `alert` resolves: the same fingerprint and start
        (its twin delivery key), else the latest firing one of the fingerprint."""
        twin = Alert(alert.receiver, "firing", alert.fingerprint, alert.starts_raw,
                     alert.starts_at, None, alert.labels).key
        async with self.store.sessions() as s:
            row = await s.scalar(select(AlertRow).where(AlertRow.delivery_key == twin))
            if row is None:
                row = await s.scalar(
                    select(AlertRow).where(AlertRow.fingerprint == alert.fingerprint,
                                           AlertRow.status == "firing")
                    .order_by(AlertRow.id.desc()).limit(1))
            if row is None:
                return None
            return Firing(row.id, row.host, row.channel, row.outcome, _utc(row.starts_at))

    async def coverage(self, alert_id: int) -> Coverage:
        """Where the resolution of a firing alert goes, as far as known now."""
        async with self.store.sessions() as s:
            row = await s.get(AlertRow, alert_id)
            if row is None:
                return Coverage(None, None, None, settled=True)
            if row.outcome == RECEIVED:  # recorded, its decision not written yet
                return Coverage(None, None, None, settled=False)
            if row.channel is None:  # decided: nothing captured for it
                return Coverage(None, None, None, settled=True)
            src: AlertRow | None = row
            if row.snapshot_id is None and row.covered_by is not None:
                src = await s.get(AlertRow, row.covered_by)
            sid = src.snapshot_id if src is not None else None
            # no snapshot yet: final once its capture is over (failed before creating one)
            settled = sid is not None or src is None or src.outcome not in (RECEIVED, "capturing")
            return Coverage(row.channel, row.covered_by, sid, settled, row.host)

    async def thread_of(self, snapshot_id: str, channel: str | None) -> tuple[str, str] | None:
        """(channel, thread root) of the snapshot's message, preferring `channel`."""
        async with self.store.sessions() as s:
            rows = (await s.scalars(select(SlackPostRow).where(
                SlackPostRow.snapshot_id == snapshot_id).order_by(SlackPostRow.id))).all()
        posted = [r for r in rows if (r.thread_ts or r.ts)]
        posted.sort(key=lambda r: r.channel != channel)
        if not posted:
            return None
        root = posted[0].thread_ts or posted[0].ts
        assert root is not None
        return posted[0].channel, root

    # -- reading ----------------------------------------------------------------------
    async def recent(self, limit: int, *, host: str | None = None,
                     outcome: str | None = None) -> list[AlertView]:
        """Newest first: what came in and what became of it (`hostsnap alerts`)."""
        q = select(AlertRow).order_by(AlertRow.id.desc()).limit(limit)
        if host is not None:
            # an inventory host's name, or, for a host not in the inventory,
            # any label=value the finder tried ("host=th9, instance=th9")
            h = host.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            q = q.where(or_(AlertRow.host == host,
                            AlertRow.host.like(f"%={h}", escape="\\"),
                            AlertRow.host.like(f"%={h}, %", escape="\\")))
        if outcome is not None:
            q = q.where(AlertRow.outcome == outcome)
        async with self.store.sessions() as s:
            return [AlertView.of(r) for r in (await s.scalars(q)).all()]

    # -- for tests --------------------------------------------------------------------
    async def rows(self, **where: Any) -> list[AlertRow]:
        async with self.store.sessions() as s:
            q = select(AlertRow).order_by(AlertRow.id)
            for k, v in where.items():
                q = q.where(getattr(AlertRow, k) == v)
            return list((await s.scalars(q)).all())
