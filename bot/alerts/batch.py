"""Group commit: calls that arrive while a transaction runs are merged into
the next one. A group storm's first deliveries arrive together; one INSERT of
all their alerts commits once (PostgreSQL syncs its log on every commit,
~5-10 ms here) instead of once per webhook."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Batcher(Generic[T, R]):
    def __init__(self, run: Callable[[list[T]], Awaitable[R]]) -> None:
        self._run = run
        self._queue: list[tuple[list[T], asyncio.Future[R]]] = []
        self._turn = asyncio.Lock()

    async def __call__(self, items: list[T]) -> R:
        """The result of the batch `items` went into."""
        mine: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((items, mine))
        # FIFO: whoever gets the turn runs everything queued by then, so a
        # caller whose items went with an earlier batch finds its answer here
        async with self._turn:
            if not mine.done():
                batch, self._queue = self._queue, []
                try:
                    result = await self._run([i for items_, _ in batch for i in items_])
                except BaseException as e:
                    for _, f in batch:
                        if f is mine:
                            f.cancel()  # raised right here, not through the future
                        elif isinstance(e, Exception):
                            f.set_exception(e)
                        else:
                            f.cancel()
                    raise
                for _, f in batch:
                    f.set_result(result)
        return mine.result()
