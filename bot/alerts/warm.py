"""Warm sessions opened because an alert says a host is at risk (a route
with `warm = true`, typically a warning before the critical one). A host at
its thread ceiling refuses new SSH logins; a session opened now still
captures then. Closed when the last alert holding it resolves, or after
`warm_for` seconds (an alert whose resolution never comes must not hold a
connection forever). Per process: a warm session lives in one replica."""

from __future__ import annotations

import logging
import time

from bot.inventory import InventoryHost
from bot.sessions import SessionPool
from collectors.transport.base import TransportError

log = logging.getLogger(__name__)

#: this module's name for its hold on a warm session (bot/sessions.py)
HOLDER = "alert"


class WarmSessions:
    def __init__(self, pool: SessionPool, warm_for: float) -> None:
        self.pool = pool
        self.warm_for = warm_for
        #: host -> {alert fingerprint: monotonic expiry}
        self._holders: dict[str, dict[str, float]] = {}

    def hold(self, host: InventoryHost, fingerprint: str) -> str:
        """Open (or keep) a warm session for this alert; says what happened."""
        if host.is_local:
            return "this machine needs no warm session"
        before = host.name in self.pool.warm_states and host.name not in self._holders
        try:
            self.pool.warm(host, holder=HOLDER)
        except TransportError as e:
            return f"not kept warm: {e}"
        self._holders.setdefault(host.name, {})[fingerprint] = time.monotonic() + self.warm_for
        # kept open by someone else too (`/snapshot watch`, [watch] hosts): the
        # alert's resolution closes only its own hold
        return "already kept warm" if before else "warm session kept"

    async def release(self, host: str, fingerprint: str) -> None:
        holders = self._holders.get(host)
        if holders is None:
            return
        holders.pop(fingerprint, None)
        if not holders:
            await self._close(host)

    async def expire(self) -> None:
        now = time.monotonic()
        for host, holders in list(self._holders.items()):
            for fp, until in list(holders.items()):
                if until <= now:
                    del holders[fp]
            if not holders:
                await self._close(host)

    async def close(self) -> None:
        for host in list(self._holders):
            await self._close(host)

    async def _close(self, host: str) -> None:
        self._holders.pop(host, None)
        log.info("closing the warm session to %s (its alerts resolved or expired)", host)
        await self.pool.unwarm(host, holder=HOLDER)

    @property
    def hosts(self) -> list[str]:
        return sorted(self._holders)
