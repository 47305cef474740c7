"""Big webhook bodies are parsed in a separate process.

Parsing holds the GIL: a thread would not help. 1 MB of JSON is up to 250 000
objects, 15-250 ms of json.loads on a busy host (allocating them, page faults,
garbage collections); on the event loop, or in a thread of this process, that
stalls Slack acks (3 s budget with retries behind them) and /healthz for as
long. In a worker process the bot's loop only unpickles the result: the
alerts, which max_alerts bounds, or one line of error.

The worker is collectors.offload's WorkerPool, with one process of its own:
a body never waits behind a capture's dump parsing.
"""

from __future__ import annotations

import asyncio

from bot.alerts.auth import Rejected
from bot.alerts.payloads import Alert, Malformed, parse
from collectors.offload import WorkerCrashed, WorkerPool


def _parse(kind: str, receiver: str, body: bytes, max_alerts: int) -> list[Alert] | str:
    """In the worker: the alerts, or Malformed's message."""
    try:
        return parse(kind, receiver, body, max_alerts=max_alerts)
    except Malformed as e:
        return str(e)


class Offload:
    """One worker process, started on the first big body and kept; bodies
    queue for it one at a time (they are CPU work)."""

    def __init__(self) -> None:
        # spawn: no fork server needed for one long-lived process
        self._pool = WorkerPool(1, name="webhook parser", preload=(), start_method="spawn")
        self._turn = asyncio.Lock()

    async def parse(self, kind: str, receiver: str, body: bytes, *, max_alerts: int
                    ) -> list[Alert]:
        async with self._turn:
            try:
                out = await self._pool.run(_parse, kind, receiver, body, max_alerts)
            except WorkerCrashed:
                # killed (out of memory?): the pool starts a new one for the next body
                raise Rejected(503, "webhook parser restarting; retry later", "parser",
                               {"Retry-After": "5"}) from None
        if isinstance(out, str):
            raise Malformed(out)
        return out

    async def close(self) -> None:
        await self._pool.close()
