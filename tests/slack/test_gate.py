"""Acks first: work after an ack waits while other requests are being acked."""

from __future__ import annotations

import asyncio
import time

from bot.ackgate import AckGate
from bot.metrics import Metrics


async def test_work_waits_for_acks_in_flight_and_a_calm_spell() -> None:
    gate = AckGate(Metrics(), max_wait=1.0, settle=0.05)
    order: list[str] = []

    async def work() -> None:
        await gate.wait()
        order.append("work")

    with gate.acking("http"):
        task = asyncio.create_task(work())
        await asyncio.sleep(0.1)
        order.append("ack")
    t0 = time.monotonic()
    await task
    assert order == ["ack", "work"]
    assert time.monotonic() - t0 >= 0.04  # the calm spell after the last ack


async def test_a_stream_of_acks_cannot_starve_the_work() -> None:
    metrics = Metrics()
    gate = AckGate(metrics, max_wait=0.2, settle=0.05)
    with gate.acking("socket"):
        t0 = time.monotonic()
        await gate.wait()
        assert 0.19 <= time.monotonic() - t0 < 0.5
    assert 'hostsnap_slack_ack_seconds_count{mode="socket"} 1' in metrics.render()


async def test_no_acks_no_wait() -> None:
    gate = AckGate(Metrics())
    t0 = time.monotonic()
    await gate.wait()
    assert time.monotonic() - t0 < 0.01
