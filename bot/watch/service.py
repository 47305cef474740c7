"""Warm sessions opened because an alert says a host is at risk (a route
with `warm = true`, typically a warning before the critical one). A host at
its thread ceiling refuses new SSH logins; a session opened now still
captures then. The hold is shared by every replica (bot/warmholds.py), so the
critical alert's capture finds a warm session whichever replica takes it;
it ends when the alert resolves, or after `warm_for` seconds (an alert whose
resolution never comes must not hold a connection forever)."""

from __future__ import annotations

from bot.inventory import InventoryHost
from bot.warmholds import WarmHolds


def holder(fingerprint: str) -> str:
    return f"alert:{fingerprint}"[:160]


class WarmSessions:
    def __init__(self, holds: WarmHolds, warm_for: float) -> None:
        self.holds = holds
        self.warm_for = warm_for

    async def hold(self, host: InventoryHost, fingerprint: str) -> str:
        """Open (or keep) a warm session for this alert; says what happened."""
        if host.is_local:
            return "this machine needs no warm session"
        others = await self.holds.hold(host.name, holder(fingerprint), seconds=self.warm_for)
        if host.name not in self.holds.pool.warm_states:
            await self.holds.release(host.name, holder=holder(fingerprint))
            return "not kept warm: watch.max_sessions reached"
        return "already kept warm" if others else "warm session kept"

    async def release(self, host: str, fingerprint: str) -> None:
        await self.holds.release(host, holder=holder(fingerprint))

    async def expire(self) -> None:
        """Holds past `warm_for` are ignored at once; this clears their rows."""
        await self.holds.prune()
