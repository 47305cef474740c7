"""`/snapshot watch|unwatch HOST…`: warm sessions through the watch use case."""

from __future__ import annotations

import asyncio
import logging

from bot.inventory import InventoryError, InventoryHost
from bot.render import slack as render
from bot.render.slack_watch import holder_text, watch_message
from bot.slack.handlers import Handlers
from bot.slack.origin import Origin
from bot.watch.service import Held, user_holder

log = logging.getLogger(__name__)

#: seconds `/snapshot watch` waits to say whether the sessions are up
WATCH_READY_S = 5.0


class WatchHandlers(Handlers):
    """Watch commands: hold or release warm sessions for a Slack user."""

    async def watch(self, origin: Origin, targets: list[str]) -> None:
        """Keep SSH sessions open to hosts at risk, in every replica; no host:
        list them."""
        pool = self.bot.captures.pool
        if not targets:
            await self.bot.reply(origin, watch_message(pool.status(), title="Warm sessions",
                                                       command=self.bot.slack.command))
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
            held = await self.bot.watches.hold(h, holder)
            if held.outcome is Held.FULL:
                await self.bot.refuse(origin, f"Not keeping {h.name} warm: already "
                                              f"{self.bot.watches.max_sessions} warm sessions "
                                              "(watch.max_sessions).", "limit", target=h.name)
                break
            assert held.state is not None
            started.append(held.state)
        if not started:
            if local:
                await self.bot.tell(origin, f"{', '.join(local)} is this machine: it needs no "
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
            await self.bot.journal.asked(origin.actor, "warm", str(r["host"]),
                                         channel=origin.channel, connected=r["connected"])
        await self.bot.reply(origin, watch_message(
            rows, title="Keeping warm sessions" if len(rows) > 1 else "Keeping a warm session",
            command=self.bot.slack.command))

    async def unwatch(self, origin: Origin, targets: list[str]) -> None:
        """Drop the Slack users' holds (whoever asked) on these hosts, in every
        replica; a host held by the config or an alert stays warm."""
        hosts = await self._resolve_allowed(origin, targets)
        if hosts is None:
            return
        lines = []
        for h in hosts:
            name = render.esc(h.name)
            if not await self.bot.watches.holders(h.name):  # here or in another replica
                lines.append(f"{name}: no warm session")
                continue
            left = await self.bot.watches.release(h.name, prefix="slack:")
            if left:
                rest = ", ".join(holder_text(x) for x in left)
                lines.append(f"{name}: still kept open by {rest}")
            else:
                lines.append(f"{name}: closed")
            await self.bot.journal.asked(origin.actor, "unwarm", h.name, channel=origin.channel,
                                         closed=not left)
        await self.bot.reply(origin, render.Message(  # the fallback is plain text: no markup
            "Warm sessions of " + ", ".join(h.name for h in hosts),
            [render.section("\n".join(lines))]))

    async def _resolve_allowed(self, origin: Origin, targets: list[str]
                               ) -> list[InventoryHost] | None:
        """Inventory hosts the requester may capture (a warm session is the first
        half of a capture), or None after telling them why not."""
        try:
            hosts = self.bot.inventory.resolve(targets, max_hosts=self.bot.slack.max_hosts)
        except InventoryError as e:
            await self.bot.refuse(origin, render.sentence(str(e)), "input",
                                  target=" ".join(targets)[:255])
            return None
        for h in hosts:
            if not await self.bot.allowed(origin, "capture", h.group, h.name):
                return None
        return hosts
