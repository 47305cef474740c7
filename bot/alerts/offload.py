"""Big webhook bodies are parsed in a separate process.

Parsing holds the GIL: a thread would not help. 1 MB of JSON is up to 250 000
objects, 15-250 ms of json.loads on a busy host (allocating them, page faults,
garbage collections); on the event loop, or in a thread of this process, that
stalls Slack acks (3 s budget with retries behind them) and /healthz for as
long. In a worker process the bot's loop only unpickles the result: the
alerts, which max_alerts bounds, or one line of error.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from bot.alerts.auth import Rejected
from bot.alerts.payloads import Alert, Malformed, parse

log = logging.getLogger(__name__)


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
        self._pool: ProcessPoolExecutor | None = None
        self._turn = asyncio.Lock()

    async def parse(self, kind: str, receiver: str, body: bytes, *, max_alerts: int
                    ) -> list[Alert]:
        async with self._turn:
            if self._pool is None:
                # spawn: a fork would copy this process's threads' locks mid-use
                self._pool = ProcessPoolExecutor(
                    max_workers=1, mp_context=multiprocessing.get_context("spawn"))
            pool = self._pool
            try:
                out = await asyncio.get_running_loop().run_in_executor(
                    pool, _parse, kind, receiver, body, max_alerts)
            except BrokenProcessPool:
                # killed (out of memory?): a new one for the next body
                log.error("the webhook parser process died; starting a new one")
                self._pool = None
                pool.shutdown(wait=False)
                raise Rejected(503, "webhook parser restarting; retry later", "parser",
                               {"Retry-After": "5"}) from None
        if isinstance(out, str):
            raise Malformed(out)
        return out

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)
