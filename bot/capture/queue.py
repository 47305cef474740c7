"""Slots for captures (at most `size` at once) whose waiting has its own bound.

A capture's deadline starts when it gets a slot, not when it was asked for:
time spent queued behind other captures is not taken from its collectors. A
capture that waits longer than `timeout` for a slot does not start, and says
how many were ahead of it and how long it waited."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from collectors.transport.base import TransportError


class QueueTimeout(TransportError):
    """No slot within the queue's bound: the capture never started."""


class CaptureQueue:
    def __init__(self, size: int, timeout: float) -> None:
        self.size = size
        self.timeout = timeout
        self._sem = asyncio.Semaphore(size)
        self._entered = 0  # holding a slot or waiting for one

    @asynccontextmanager
    async def slot(self, host: str) -> AsyncIterator[None]:
        ahead = max(0, self._entered - self.size + 1)  # captures that must end first
        self._entered += 1
        t0 = time.monotonic()
        try:
            try:
                await asyncio.wait_for(self._sem.acquire(), self.timeout)
            except TimeoutError:
                raise QueueTimeout(
                    f"{host}: not started: {ahead} capture{'s' if ahead != 1 else ''} ahead, "
                    f"waited {time.monotonic() - t0:.1f} s for a slot (capture.concurrency "
                    f"{self.size}, capture.queue_timeout {self.timeout:g} s)") from None
            try:
                yield
            finally:
                self._sem.release()
        finally:
            self._entered -= 1
