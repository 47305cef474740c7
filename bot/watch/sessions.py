"""Sessions to hosts: opened per capture, or kept warm for hosts at risk.

A warm session is an SSH connection plus an open SFTP session (plus, on SSH,
a pre-started `sh` for builtins such as `kill`), all opened while the host can
still fork, so capture works after sshd can no longer fork a new login.

When many warm sessions drop at once (a switch restarts, a network blip),
they must not all knock at once: every reconnect waits a random delay
(jittered exponential backoff up to watch.reconnect_max_backoff), and at most
watch.reconnect_concurrency connection attempts run at a time."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.inventory import Inventory, InventoryHost
from collectors.jvm import arm_attach
from collectors.transport.base import HostSession, TransportError
from collectors.transport.local import LocalSession

if TYPE_CHECKING:  # asyncssh (~0.1 s) is imported only once a host is reached over SSH
    from collectors.transport.ssh import SSHSession

log = logging.getLogger(__name__)


@dataclass
class WarmState:
    host: InventoryHost
    session: SSHSession | None = None
    task: asyncio.Task[None] | None = None
    connected_at: float | None = None
    last_error: str | None = None
    reconnects: int = 0
    #: what arming the JVMs' Attach Listeners did (jvm.arm_in_watch)
    armed: list[str] = field(default_factory=list)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    #: who wants it open ("watch", "config", "slack:U123", "alert:<fingerprint>");
    #: closed when nobody does
    holders: set[str] = field(default_factory=set)


#: first backoff step (s): a dropped session waits uniform(0, this) before its
#: first attempt, then uniform(b/2, b) with b doubling up to the cap
BACKOFF_BASE = 0.5


def backoff_delay(failures: int, cap: float, rng: random.Random) -> float:
    """Seconds to wait before the next attempt, after `failures` failed ones in a
    row (0: the session just dropped). Spread, so hosts that dropped together
    come back spread over time; never above `cap`."""
    if failures <= 0:
        return rng.uniform(0, min(BACKOFF_BASE, cap))
    top = min(cap, BACKOFF_BASE * 2 ** min(failures, 30))
    return rng.uniform(top / 2, top)


#: captures' SSH connections set up at once in `serve` when the config does not say
SERVE_CONNECT_SLOTS = 2


class SessionPool:
    def __init__(self, inventory: Inventory, *, serving: bool = False) -> None:
        """`serving`: in `hostsnap serve`, where captures share the event loop
        with Slack acks and alert webhooks."""
        self.inventory = inventory
        self.warm_states: dict[str, WarmState] = {}
        watch = inventory.settings.watch
        #: bounds the warm sessions' connection attempts in flight (not captures'
        #: own connections): the herd after a mass drop queues here
        self._attempt_slots = asyncio.Semaphore(watch.reconnect_concurrency)
        self._rng = random.Random()
        self.connecting = 0  # warm-session connection attempts in flight now
        self.max_connecting = 0  # the most there ever were at once
        self.attempts = 0  # warm-session connection attempts started
        #: bounds captures' new connections being set up (connect, key exchange,
        #: auth, SFTP): a fleet's handshakes all at once starve the event loop
        #: (webhooks waited 0.2 s+); the rest wait their turn, first come first
        cs = inventory.settings.capture
        self.connect_slots = cs.connect_concurrency or (
            SERVE_CONNECT_SLOTS if serving else cs.concurrency)
        self._connect_slots = asyncio.Semaphore(self.connect_slots)
        self.handshakes = 0  # captures' connections being set up now
        self.max_handshakes = 0  # the most there ever were at once

    async def open(self, host: InventoryHost) -> HostSession:
        if host.is_local:
            return LocalSession(host.name)
        from collectors.transport.ssh import SSHSession

        return await SSHSession.connect(self.inventory.ssh_target(host))

    async def _open_cold(self, host: InventoryHost) -> HostSession:
        """A capture's own new connection, within the connect slots (a local
        session costs nothing to open: no slot)."""
        if host.is_local:
            return await self.open(host)
        async with self._connect_slots:
            self.handshakes += 1
            self.max_handshakes = max(self.max_handshakes, self.handshakes)
            try:
                return await self.open(host)
            finally:
                self.handshakes -= 1

    @contextlib.asynccontextmanager
    async def session(self, host: InventoryHost) -> AsyncIterator[tuple[HostSession, bool]]:
        """(session, warm): the warm one when it is up, else a fresh one
        that is closed afterwards."""
        ws = self.warm_states.get(host.name)
        if ws and ws.session is not None and not ws.session.closed:
            yield ws.session, True
            return
        s = await self._open_cold(host)
        try:
            yield s, False
        finally:
            await s.close()

    # -- warm sessions ---------------------------------------------------------
    def warm(self, host: InventoryHost, holder: str = "watch") -> WarmState:
        """Start keeping a session to `host` open for `holder` (idempotent, bounded)."""
        ws = self.warm_states.get(host.name)
        if ws is not None:
            ws.holders.add(holder)
            return ws
        if host.is_local:
            raise TransportError(f"{host.name} is this machine: nothing to keep warm")
        limit = self.inventory.settings.watch.max_sessions
        if len(self.warm_states) >= limit:
            raise TransportError(
                f"already keeping {limit} warm sessions (watch.max_sessions); "
                f"not adding {host.name}"
            )
        ws = WarmState(host, holders={holder})
        ws.task = asyncio.create_task(self._keep(ws), name=f"warm:{host.name}")
        self.warm_states[host.name] = ws
        return ws

    async def _connect_warm(self, ws: WarmState) -> SSHSession:
        """One connection attempt for a warm session, within the attempt slots."""
        from collectors.transport.ssh import SSHSession

        async with self._attempt_slots:
            self.attempts += 1
            self.connecting += 1
            self.max_connecting = max(self.max_connecting, self.connecting)
            try:
                session = await self.open(ws.host)
                assert isinstance(session, SSHSession)
                try:
                    await session.start_shell()
                except Exception as e:  # a warm session without builtins still reads files
                    ws.last_error = f"no pre-started shell: {e}"
                return session
            finally:
                self.connecting -= 1

    async def _keep(self, ws: WarmState) -> None:
        failures = 0  # failed attempts since the session was last up
        cap = self.inventory.settings.watch.reconnect_max_backoff
        while True:
            try:
                session = await self._connect_warm(ws)
                if self.inventory.settings.jvm.arm_in_watch:
                    try:
                        ws.armed = await arm_attach(session, ws.host.labels,
                                                    self.inventory.settings.jvm)
                    except Exception as e:
                        ws.armed = [f"arming failed: {e}"]
                ws.session = session
                ws.connected_at = time.monotonic()
                ws.ready.set()
                failures = 0
                await session.conn.wait_closed()
                ws.reconnects += 1
                ws.last_error = "connection dropped; reconnecting"
                with contextlib.suppress(Exception):  # the shell and SFTP of the dead one
                    await session.close()
            except asyncio.CancelledError:
                raise
            except TransportError as e:
                ws.last_error = str(e)
                failures += 1
            except Exception as e:  # keep trying: this loop is what saves the evidence
                ws.last_error = f"{type(e).__name__}: {e}"
                failures += 1
            ws.ready.clear()
            ws.session = None
            await asyncio.sleep(backoff_delay(failures, cap, self._rng))

    async def unwarm(self, name: str, holder: str | None = None) -> bool:
        """`holder` no longer needs the session (None: nobody does); it is closed
        when no holder is left. True if it was closed."""
        ws = self.warm_states.get(name)
        if ws is None:
            return False
        if holder is not None:
            ws.holders.discard(holder)
            if ws.holders:
                return False
        del self.warm_states[name]
        if ws.task:
            ws.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ws.task
        if ws.session is not None:
            await ws.session.close()
        return True

    def status(self) -> list[dict[str, Any]]:
        """Every warm session as `hostsnap watch --status` and Slack show it."""
        now = time.monotonic()
        return [
            {
                "host": name,
                "connected": ws.session is not None and not ws.session.closed,
                "shell": bool(ws.session is not None and ws.session.has_shell),
                "up_s": round(now - ws.connected_at, 1) if ws.connected_at else None,
                "reconnects": ws.reconnects,
                "last_error": ws.last_error,
                "armed": ws.armed,
                "holders": sorted(ws.holders),
            }
            for name, ws in self.warm_states.items()
        ]

    def pool_status(self) -> dict[str, int]:
        """The pool as a whole: sessions kept, how many are up, connection
        attempts in flight now / at most at once / in all."""
        up = sum(1 for ws in self.warm_states.values()
                 if ws.session is not None and not ws.session.closed)
        return {"sessions": len(self.warm_states), "connected": up,
                "connecting": self.connecting, "max_connecting": self.max_connecting,
                "attempts": self.attempts,
                "concurrency": self.inventory.settings.watch.reconnect_concurrency}

    async def close(self) -> None:
        for name in list(self.warm_states):
            await self.unwarm(name)
