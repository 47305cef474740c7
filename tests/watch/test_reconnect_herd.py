"""Every warm session drops at once (a switch restarts, the network blips): the
watch brings every host back, spread in time and a bounded number at a time,
not as a thundering herd on the hosts and on this machine."""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings
from bot.watch.sessions import BACKOFF_BASE, backoff_delay
from tests.integration.helpers import service_for

N_HOSTS = 30  # the 100-host run is benchmarks/bench_fleet.py
BOUND = 5  # watch.reconnect_concurrency in this test (default 10)
BACK_WITHIN = 15.0  # seconds for all 30 to be warm again (measured: ~1.5 s)
ACCEPTED = "Accepted publickey for snap"


def test_backoff_is_jittered_growing_and_capped() -> None:
    rng = random.Random(17)
    after_drop = [backoff_delay(0, 30.0, rng) for _ in range(1000)]
    # a dropped session comes back after 0..0.5 s, not all at the same instant
    assert 0 <= min(after_drop) and max(after_drop) <= BACKOFF_BASE
    assert statistics.pstdev(after_drop) > BACKOFF_BASE / 5
    for failures, top in ((1, 1.0), (3, 4.0), (5, 16.0), (6, 30.0), (40, 30.0)):
        waits = [backoff_delay(failures, 30.0, rng) for _ in range(200)]
        assert top / 2 <= min(waits) and max(waits) <= top, (failures, min(waits), max(waits))
    assert max(backoff_delay(9, 3.0, rng) for _ in range(200)) <= 3.0


def test_reconnect_concurrency_is_a_checked_setting(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[watch]\nreconnect_concurency = 5\n")
    with pytest.raises(ConfigError, match=r"did you mean `reconnect_concurrency`"):
        load_settings(cfg)
    cfg.write_text("[watch]\nreconnect_concurrency = 0\n")
    with pytest.raises(ConfigError, match="reconnect_concurrency"):
        load_settings(cfg)
    cfg.write_text("[watch]\nmax_sessions = 5\n")
    assert load_settings(cfg).watch.reconnect_concurrency == 10


def _accepted(host) -> int:
    return host.sshd_log.read_text(errors="replace").count(ACCEPTED)


@pytest.mark.root
@pytest.mark.slow
async def test_thirty_sessions_dropped_at_once_come_back_bounded(lab, tmp_path: Path) -> None:
    hosts = await asyncio.to_thread(lab.add_hosts, [f"herd-{i:02d}" for i in range(N_HOSTS)])
    try:
        _, store, svc = await service_for(
            tmp_path, hosts, extra=(f"[watch]\nmax_sessions = {N_HOSTS}\n"
                                    f"reconnect_concurrency = {BOUND}\n"
                                    "reconnect_max_backoff = 4\n"))
        pool = svc.pool
        try:
            states = [pool.warm(h) for h in svc.inventory.resolve([h.name for h in hosts])]
            await asyncio.wait_for(asyncio.gather(*(ws.ready.wait() for ws in states)), 30)
            # the start is bounded too: 30 tasks asked at once, 5 got a slot
            assert pool.max_connecting == BOUND
            assert [_accepted(h) for h in hosts] == [1] * N_HOSTS
            pool.max_connecting = 0  # the drop's own peak from here

            t0 = time.monotonic()
            killed = await asyncio.to_thread(lab.drop_connections, hosts)
            assert killed >= N_HOSTS
            seen_connecting: list[int] = []
            while time.monotonic() - t0 < BACK_WITHIN:
                seen_connecting.append(pool.connecting)
                if all(ws.reconnects == 1 and ws.ready.is_set() and ws.session is not None
                       and not ws.session.closed for ws in states):
                    break
                await asyncio.sleep(0.02)
            took = time.monotonic() - t0
            status = pool.status()
            down = [s["host"] for s in status if not s["connected"] or s["reconnects"] != 1]
            assert not down, f"not warm again after {took:.1f} s: {down}"
            # never more than BOUND attempts at once (how close to it the jittered
            # attempts come depends on this machine's speed)
            assert max(seen_connecting) <= pool.max_connecting <= BOUND, seen_connecting
            assert pool.max_connecting >= 1
            # each host was knocked on exactly once more: no retry storm
            assert [_accepted(h) for h in hosts] == [2] * N_HOSTS
            back = sorted(ws.connected_at - t0 for ws in states if ws.connected_at)
            # spread over time, not one burst (jitter plus the bound)
            assert back[-1] - back[0] > 0.2, back

            # what the user gets: every session reads its host again, with its shell
            async def hostname(ws) -> str:
                return (await ws.session.read_file("/proc/sys/kernel/hostname")).decode().strip()

            names = await asyncio.gather(*(hostname(ws) for ws in states))
            assert names == [h.name for h in hosts]
            assert all(s["shell"] for s in status)
            print(f"\n{N_HOSTS} sessions dropped: all warm again in {took:.2f} s, "
                  f"at most {pool.max_connecting} attempts at once")
        finally:
            await pool.close()
            await store.close()
    finally:
        await asyncio.to_thread(lab.remove_hosts, hosts)
