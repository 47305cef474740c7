"""New messages in one channel: a short burst at once, then one per interval."""

from __future__ import annotations

import asyncio
import time

from bot.slack.api import Pacer


async def test_burst_then_one_per_interval_per_channel() -> None:
    pacer = Pacer(burst=3, interval=0.1)
    t0 = time.monotonic()
    done: list[tuple[str, float]] = []

    async def post(channel: str) -> None:
        await pacer.wait(channel)
        done.append((channel, time.monotonic() - t0))

    await asyncio.gather(*(post("C1") for _ in range(5)), post("C2"))
    c1 = sorted(t for c, t in done if c == "C1")
    assert all(t < 0.05 for t in c1[:3])  # the burst
    assert 0.09 <= c1[3] < 0.2 and 0.19 <= c1[4] < 0.3  # then paced
    assert next(t for c, t in done if c == "C2") < 0.05  # another channel is not held up
