"""Warm sessions shared by every bot replica.

A warm session lives in one process, but Slack and alert senders reach any
replica: `/snapshot watch web-03` on one and `/snapshot web-03` on another
would capture cold — and fail once web-03 refuses logins, the very moment the
session was for. So who wants which host warm is kept in the database
(`warm_holds`), and every replica keeps its own session to every held host,
reconciling its SessionPool with the table every `watch.sync_interval`
seconds and at once for the requests it takes itself.

Holders: `slack:<user>` (until unwatched), `alert:<fingerprint>` (until
resolved or `alerts.warm_for`). The config's `[watch] hosts` and a running
`hostsnap watch` stay local: every replica reads the same config.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import ColumnElement, delete, or_, select

from bot.inventory import Inventory, InventoryError
from bot.store.models import WarmHoldRow
from bot.store.service import Store, now
from bot.watch.sessions import SessionPool
from collectors.transport.base import TransportError

log = logging.getLogger(__name__)

#: holders kept in the database (the others are this process's own)
SHARED = ("slack:", "alert:")


def _in_force() -> ColumnElement[bool]:
    return or_(WarmHoldRow.until.is_(None), WarmHoldRow.until > now())


@dataclass(frozen=True)
class Hold:
    host: str
    holder: str


class WarmHolds:
    def __init__(self, store: Store, pool: SessionPool, inventory: Inventory,
                 interval: float) -> None:
        self.store = store
        self.pool = pool
        self.inventory = inventory
        self.interval = interval
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()  # one reconciliation at a time
        self._warned: set[str] = set()  # said once, not every sync_interval

    # -- what users and alerts ask for -------------------------------------------------
    async def hold(self, host: str, holder: str, *, seconds: float | None = None) -> bool:
        """`holder` wants `host` warm (for `seconds`, or until released).
        True if somebody else already held it."""
        until = None if seconds is None else now() + timedelta(seconds=seconds)
        async with self.store.sessions.begin() as s:
            others = (await s.scalars(select(WarmHoldRow.holder).where(
                WarmHoldRow.host == host, WarmHoldRow.holder != holder, _in_force()))).all()
            row = await s.get(WarmHoldRow, (host, holder))
            if row is None:
                s.add(WarmHoldRow(host=host, holder=holder, until=until, created_at=now()))
            else:
                row.until = until
        await self.sync()
        local = self.pool.warm_states.get(host)
        return bool(others) or bool(local and local.holders - {holder})

    async def release(self, host: str, *, holder: str | None = None,
                      prefix: str | None = None) -> list[str]:
        """Drop the holds of `holder` (or of every holder starting with
        `prefix`) on `host`; returns the holders left, here and shared."""
        async with self.store.sessions.begin() as s:
            q = delete(WarmHoldRow).where(WarmHoldRow.host == host)
            if holder is not None:
                q = q.where(WarmHoldRow.holder == holder)
            if prefix is not None:
                q = q.where(WarmHoldRow.holder.startswith(prefix, autoescape=True))
            await s.execute(q)
        await self.sync()
        return await self.holders(host)

    async def holders(self, host: str) -> list[str]:
        shared = {h.holder for h in await self.holds(host)}
        ws = self.pool.warm_states.get(host)
        return sorted(shared | (ws.holders if ws else set()))

    async def holds(self, host: str | None = None) -> list[Hold]:
        """The holds in force (of `host`, or of every host)."""
        q = select(WarmHoldRow.host, WarmHoldRow.holder).where(_in_force())
        if host is not None:
            q = q.where(WarmHoldRow.host == host)
        async with self.store.sessions() as s:
            return [Hold(h, who) for h, who in (await s.execute(q)).all()]

    # -- keeping this replica in step --------------------------------------------------
    async def sync(self) -> None:
        """Open what the table holds, close what it no longer holds (only the
        shared holders: the config's and `hostsnap watch`'s are left alone)."""
        async with self._lock:
            wanted = await self.holds()
            want = {(h.host, h.holder) for h in wanted}
            for name, ws in list(self.pool.warm_states.items()):
                for holder in [x for x in ws.holders if x.startswith(SHARED)]:
                    if (name, holder) not in want:
                        await self.pool.unwarm(name, holder=holder)
            for h in wanted:
                held = self.pool.warm_states.get(h.host)
                if held is not None and h.holder in held.holders:
                    continue
                try:
                    (host,) = self.inventory.resolve([h.host], max_hosts=1)
                except (InventoryError, ValueError) as e:
                    if h.host not in self._warned:
                        self._warned.add(h.host)
                        log.warning("warm hold on %s (by %s): %s", h.host, h.holder, e)
                    continue
                if host.is_local:
                    continue
                try:
                    self.pool.warm(host, holder=h.holder)
                except TransportError as e:  # watch.max_sessions
                    if h.host not in self._warned:
                        self._warned.add(h.host)
                        log.error("warm hold on %s: %s", h.host, e)

    async def prune(self) -> None:
        async with self.store.sessions.begin() as s:
            await s.execute(delete(WarmHoldRow).where(WarmHoldRow.until <= now()))

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="warm-holds")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        rounds = 0
        while True:
            try:
                await self.sync()
                rounds += 1
                if rounds % 30 == 0:
                    await self.prune()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database may be away: keep what is open, try again
                log.exception("warm holds: sync failed")
            await asyncio.sleep(self.interval)
