"""Acks first. Slack drops a request that is not acked within 3 s, while the
work a request starts (audit rows, inventory, the first message, a capture)
can wait a few milliseconds. All of it shares one event loop, so under a burst
of commands the acks queue behind the work the earlier commands started.

The gate counts requests being acked; work after an ack waits until none is
(or at most `max_wait`, so a steady stream of requests cannot starve it).
Measured (benchmarks/README.md, Slack): with 50 concurrent commands the ack's
p50 and p99 are about halved. A thread of its own for the acks was tried and
was worse: the ack thread then waits for the GIL behind the captures' CPU work."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator

from bot.metrics import Metrics


class AckGate:
    def __init__(self, metrics: Metrics, max_wait: float = 0.25, settle: float = 0.02) -> None:
        self.metrics = metrics
        self.max_wait = max_wait
        #: the requests of a burst do not arrive at the same instant (one websocket
        #: carries them one after the other): quiet means no ack for this long
        self.settle = settle
        self._acking = 0
        self._last_ack = 0.0
        self._quiet = asyncio.Event()
        self._quiet.set()

    @contextlib.contextmanager
    def acking(self, mode: str) -> Iterator[None]:
        """Around the handling of one Slack request, up to its ack (timed)."""
        self._acking += 1
        self._quiet.clear()
        try:
            with self.metrics.timer("hostsnap_slack_ack_seconds", mode=mode):
                yield
        finally:
            self._acking -= 1
            self._last_ack = time.monotonic()
            if self._acking == 0:
                self._quiet.set()

    async def wait(self) -> None:
        """Before work that follows an ack: let the pending acks go first."""
        deadline = time.monotonic() + self.max_wait
        while (now := time.monotonic()) < deadline:
            if not self._quiet.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._quiet.wait(), deadline - now)
                continue
            calm = self._last_ack + self.settle - now
            if calm <= 0:
                return
            await asyncio.sleep(min(calm, deadline - now))
