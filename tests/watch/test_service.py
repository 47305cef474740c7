"""The watch use case, the one Slack and alerts both call: hold a warm session
for someone, refuse (and hold nothing) when the pool is full, release it when
nobody holds it any more. Hosts that cannot be reached: the sessions keep
trying, which is what a warm session does, and nothing here needs them up."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.config import HostEntry, Settings, WatchSettings
from bot.inventory import Inventory
from bot.store.service import Store
from bot.watch.holds import WarmHolds
from bot.watch.service import Held, WatchService, alert_holder, user_holder
from bot.watch.sessions import SessionPool


@pytest.fixture
async def watch(tmp_path: Path) -> AsyncIterator[tuple[WatchService, Inventory]]:
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/w.db",
        hosts=[HostEntry(name=n, address="127.0.0.1", port=1,
                         known_hosts=str(tmp_path / "known_hosts"))
               for n in ("web-01", "web-02")],
        watch=WatchSettings(max_sessions=1, reconnect_max_backoff=5.0))
    store = await Store.open(settings.database_url)
    inv = Inventory(settings)
    pool = SessionPool(inv)
    yield WatchService(WarmHolds(store, pool, inv, interval=60.0)), inv
    await pool.close()
    await store.close()


async def test_hold_refuse_when_full_release(watch: tuple[WatchService, Inventory]) -> None:
    svc, inv = watch
    (web1, web2, local) = inv.resolve(["web-01", "web-02", "localhost"])

    assert (await svc.hold(local, user_holder("slack", "U1"))).outcome is Held.LOCAL
    first = await svc.hold(web1, user_holder("slack", "U1"))
    assert first.outcome is Held.KEPT and first.state is not None
    assert (await svc.hold(web1, alert_holder("fp1"), seconds=60)).outcome is Held.ALREADY

    # max_sessions = 1: refused, and the refused hold is not left behind
    assert (await svc.hold(web2, user_holder("slack", "U2"))).outcome is Held.FULL
    assert await svc.holders("web-02") == []
    assert "web-02" not in svc.pool.warm_states

    # the Slack user lets go: the alert still holds it; then nobody does
    assert await svc.release("web-01", prefix="slack:") == [alert_holder("fp1")]
    assert "web-01" in svc.pool.warm_states
    assert await svc.release("web-01", holder=alert_holder("fp1")) == []
    assert "web-01" not in svc.pool.warm_states
    # the pool has room again
    assert (await svc.hold(web2, user_holder("slack", "U2"))).outcome is Held.KEPT


async def test_local_holds_stop_at_the_pool_limit(watch: tuple[WatchService, Inventory]
                                                  ) -> None:
    """The config's [watch] hosts and `hostsnap watch`: this process only, not in
    the shared table; the pool's limit still holds and is said."""
    svc, inv = watch
    hosts = inv.resolve(["localhost", "web-01", "web-02"])
    problem = svc.keep_local(hosts, holder="config")
    assert problem is not None and "watch.max_sessions" in problem and "web-02" in problem
    assert set(svc.pool.warm_states) == {"web-01"}
    assert await svc.holders("web-01") == ["config"]
    assert await svc.holds.holds() == []  # nothing shared with other replicas
