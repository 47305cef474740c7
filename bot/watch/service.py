"""The watch use case, once for every asker: "hold a warm session to host X
for holder H (a Slack user, an alert, the config), release it when nobody
holds it, refuse when the pool is full".

A host at its thread ceiling refuses new SSH logins; a session opened before
then still captures. Holds are shared by every replica (holds.py), so a
capture finds the warm session whichever replica takes it. An alert's hold
ends when the alert resolves, or after `seconds` (a resolution that never
comes must not hold a connection forever)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bot.inventory import InventoryHost
from bot.watch.holds import WarmHolds
from bot.watch.sessions import SessionPool, WarmState
from collectors.transport.base import TransportError


class Held(StrEnum):
    LOCAL = "local"  # this machine: nothing to keep warm
    FULL = "full"  # refused: watch.max_sessions reached (the hold was dropped)
    KEPT = "kept"  # a warm session now kept for this holder
    ALREADY = "already"  # somebody else already kept it warm


@dataclass(frozen=True)
class HoldResult:
    outcome: Held
    state: WarmState | None = None  # the session's state (KEPT, ALREADY)


def alert_holder(fingerprint: str) -> str:
    return f"alert:{fingerprint}"[:160]


def user_holder(interface: str, user: str) -> str:
    return f"{interface}:{user}"


class WatchService:
    def __init__(self, holds: WarmHolds) -> None:
        self.holds = holds

    @property
    def pool(self) -> SessionPool:
        return self.holds.pool

    @property
    def max_sessions(self) -> int:
        return self.holds.inventory.settings.watch.max_sessions

    async def hold(self, host: InventoryHost, holder: str, *,
                   seconds: float | None = None) -> HoldResult:
        """Keep `host` warm for `holder`; refused (and not held) when the pool is full."""
        if host.is_local:
            return HoldResult(Held.LOCAL)
        others = await self.holds.hold(host.name, holder, seconds=seconds)
        ws = self.pool.warm_states.get(host.name)
        if ws is None:
            await self.holds.release(host.name, holder=holder)
            return HoldResult(Held.FULL)
        return HoldResult(Held.ALREADY if others else Held.KEPT, ws)

    async def release(self, host: str, *, holder: str | None = None,
                      prefix: str | None = None) -> list[str]:
        """Drop the holds; returns the holders left (the session closes with none)."""
        return await self.holds.release(host, holder=holder, prefix=prefix)

    async def holders(self, host: str) -> list[str]:
        return await self.holds.holders(host)

    def keep_local(self, hosts: list[InventoryHost], holder: str) -> str | None:
        """Warm sessions this process alone keeps (the config's [watch] hosts, a
        running `hostsnap watch`; every replica reads the same config). Returns
        what stopped it (watch.max_sessions), or None."""
        for h in hosts:
            if h.is_local:
                continue
            try:
                self.pool.warm(h, holder=holder)
            except TransportError as e:
                return str(e)
        return None

    async def expire(self) -> None:
        """Holds past their time are ignored at once; this clears their rows."""
        await self.holds.prune()
