"""A PostgreSQL that stalls, behind a proxy the test freezes (dbproxy.py):
either it accepts connections and never answers (freeze-new, open connections
dropped) or the open connections stop mid-conversation (freeze-all). Every
interface answers within its deadline, says "database unavailable", records
nothing half-way, and works again after the database does, without a restart."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.store.faults import GRACE_S
from bot.store.service import Store
from tests.alerts.conftest import Replica, count_alerts
from tests.alerts.senders import (
    COLLECTORS,
    Reply,
    Sender,
    alert_settings,
    am_alert,
    am_payload,
)
from tests.fakeslack import FakeSlack
from tests.faults.dbproxy import DbProxy
from tests.slack.conftest import fake, make_settings  # noqa: F401

pytestmark = pytest.mark.postgres

#: settings.database_timeout in these tests
TIMEOUT = 2.0
#: what "fast" means: the request deadline (TIMEOUT + GRACE_S) plus
#: scheduling slack on a shared machine, far below the 60 s / unbounded waits
#: of an engine without timeouts
FAST = TIMEOUT + GRACE_S + 1.0
MODES = ["freeze_new", "freeze_all"]
ALERT = am_payload(am_alert("HostThreadsNearLimit", instance="localhost:9100"))


@pytest.fixture
async def proxy() -> AsyncIterator[DbProxy]:
    p = await DbProxy().start()
    yield p
    await p.close()


@pytest.fixture
async def bot(fake: FakeSlack, pg_url: str, proxy: DbProxy  # noqa: F811
              ) -> AsyncIterator[Replica]:
    """The bot as `hostsnap serve` runs it, its database behind the proxy."""
    url = proxy.url(pg_url)
    store = await Store.open(url, timeout=TIMEOUT)
    r = Replica(fake, store)
    await r.start(make_settings(fake, url, collectors=COLLECTORS, settings={
        "alerts": alert_settings(), "database_timeout": TIMEOUT}))
    async with aiohttp.ClientSession() as http:
        r.send = Sender(http, r.running.port)
        try:
            yield r
        finally:
            proxy.resume()  # cleanup needs the database
            await r.stop()
            await store.close()


async def healthz(bot: Replica) -> tuple[int, dict[str, object], float]:
    t0 = time.monotonic()
    async with bot.send.session.get(f"{bot.send.base}/healthz",
                                    timeout=aiohttp.ClientTimeout(total=30)) as r:
        return r.status, await r.json(), time.monotonic() - t0


def freeze(proxy: DbProxy, mode: str) -> None:
    getattr(proxy, mode)()


@pytest.mark.parametrize("mode", MODES)
async def test_healthz_is_unhealthy_fast_and_healthy_again(bot: Replica, proxy: DbProxy,
                                                           mode: str) -> None:
    assert (await healthz(bot))[0] == 200
    freeze(proxy, mode)
    for _ in range(2):  # the second probe too: nothing left hanging in the pool
        status, body, took = await healthz(bot)
        assert (status, body) == (503, {"ok": False, "error": "database unavailable"})
        assert took < 2.0 + 1.0, took
    proxy.resume()
    ok = None
    for _ in range(20):  # the pool recovers by itself within the engine's timeout
        ok = await healthz(bot)
        if ok[0] == 200:
            break
        await asyncio.sleep(0.5)
    assert ok is not None and ok[0] == 200, ok


@pytest.mark.parametrize("mode", MODES)
async def test_webhook_is_503_fast_and_the_retry_records_it_once(bot: Replica,
                                                                proxy: DbProxy,
                                                                mode: str) -> None:
    freeze(proxy, mode)
    replies = await asyncio.gather(*(bot.send.am(ALERT) for _ in range(3)))
    for refused in replies:  # Alertmanager gives up after 10 s and resends: answered before
        assert (refused.status, refused.error) == (
            503, "database unavailable; nothing was recorded, retry later"), refused
        assert refused.elapsed < FAST, refused.elapsed
    proxy.resume()
    r: Reply | None = None
    for _ in range(20):  # Alertmanager's retries
        r = await bot.send.am(ALERT)
        if r.status == 200:
            break
        await asyncio.sleep(0.5)
    assert r is not None and r.outcomes == ["capturing"], r
    assert await count_alerts(bot.store) == 1  # nothing half-recorded by the 503s
    assert (await bot.send.am(ALERT)).outcomes == ["duplicate"]
    await bot.idle()


@pytest.mark.parametrize("mode", MODES)
async def test_slack_command_says_database_unavailable(bot: Replica, proxy: DbProxy,
                                                       fake: FakeSlack,  # noqa: F811
                                                       mode: str) -> None:
    freeze(proxy, mode)
    t0 = time.monotonic()
    ack = await fake.command("localhost")
    assert ack.status == 200
    said = await fake.wait_for(lambda: fake.ephemerals_for("U1"), FAST + 1, "an answer")
    took = time.monotonic() - t0
    assert said == ["Database unavailable, nothing was captured: try again in a minute."]
    assert took < FAST, took
    assert not fake.bot_messages("C1")  # no capture message started
    fake.ephemerals.clear()
    await fake.command("list")
    said = await fake.wait_for(lambda: fake.ephemerals_for("U1"), FAST + 1, "an answer")
    assert said == ["Database unavailable, nothing was done: try again in a minute."]
    proxy.resume()
    await bot.idle()
    assert await bot.snapshots() == 0
    fake.ephemerals.clear()
    await fake.command("localhost")  # works again without a restart
    await fake.wait_for(lambda: fake.bot_messages("C1"), 30, "the capture's message")
    await bot.idle()
    assert await bot.snapshots() == 1


@pytest.mark.parametrize("mode", MODES)
async def test_cli_fails_in_one_line_within_the_timeout(pg_url: str, proxy: DbProxy,
                                                        tmp_path: Path, mode: str) -> None:
    url = proxy.url(pg_url)
    await (await Store.open(url)).close()  # migrated while it answers
    freeze(proxy, mode)
    env = {**os.environ, "HOSTSNAP_DATABASE_URL": url,
           "HOSTSNAP_DATABASE_TIMEOUT": str(TIMEOUT), "HOME": str(tmp_path)}
    env.pop("HOSTSNAP_CONFIG", None)
    exe = Path(sys.executable).with_name("hostsnap")
    t0 = time.monotonic()
    p = await asyncio.create_subprocess_exec(str(exe), "list", env=env,
                                             stdout=asyncio.subprocess.PIPE,
                                             stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(p.communicate(), 60)
    took = time.monotonic() - t0
    lines = err.decode().splitlines()
    assert p.returncode == 1, (out, err)
    assert len(lines) == 1, lines
    assert lines[0] == (f"error: database unreachable (127.0.0.1:{proxy.port}/"
                        f"{pg_url.rsplit('/', 1)[1]}): no answer within 2 s (database_timeout)")
    assert took < TIMEOUT + 3.0, took  # + the interpreter's start


async def test_locked_sqlite_is_a_503_within_the_timeout(fake: FakeSlack,  # noqa: F811
                                                        tmp_path: Path) -> None:
    """SQLite's stall: another process holds the write lock. The webhook waits
    database_timeout at most (SQLite's busy timeout), not 30 s, and records
    the alert once when retried after the lock is gone."""
    url = f"sqlite+aiosqlite:///{tmp_path}/hostsnap.db"
    store = await Store.open(url, timeout=TIMEOUT)
    r = Replica(fake, store)
    await r.start(make_settings(fake, url, collectors=COLLECTORS, settings={
        "alerts": alert_settings(), "database_timeout": TIMEOUT}))
    locker = sqlite3.connect(tmp_path / "hostsnap.db", isolation_level=None)
    try:
        async with aiohttp.ClientSession() as http:
            r.send = Sender(http, r.running.port)
            locker.execute("BEGIN IMMEDIATE")  # the write lock, held
            refused = await r.send.am(ALERT)
            assert (refused.status, refused.error) == (
                503, "database unavailable; nothing was recorded, retry later"), refused
            assert refused.elapsed < FAST, refused.elapsed
            locker.execute("ROLLBACK")
            ok: Reply | None = None
            for _ in range(20):  # Alertmanager's retries
                ok = await r.send.am(ALERT)
                if ok.status == 200:
                    break
                await asyncio.sleep(0.5)
            assert ok is not None and ok.outcomes == ["capturing"], ok
            assert await count_alerts(store) == 1
            await r.idle()
    finally:
        locker.close()
        await r.stop()
        await store.close()


async def test_cli_stalled_mid_command_fails_in_one_line(pg_url: str, proxy: DbProxy,
                                                         tmp_path: Path) -> None:
    """The database answers when the command starts and freezes on its query."""
    url = proxy.url(pg_url)
    await (await Store.open(url)).close()
    proxy.freeze_on = b"snapshots"  # the listing's SELECT
    env = {**os.environ, "HOSTSNAP_DATABASE_URL": url,
           "HOSTSNAP_DATABASE_TIMEOUT": str(TIMEOUT), "HOME": str(tmp_path)}
    env.pop("HOSTSNAP_CONFIG", None)
    t0 = time.monotonic()
    p = await asyncio.create_subprocess_exec(str(Path(sys.executable).with_name("hostsnap")),
                                             "list", env=env,
                                             stdout=asyncio.subprocess.PIPE,
                                             stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(p.communicate(), 60)
    took = time.monotonic() - t0
    assert proxy.mode.value == "freeze-all"  # it did stall mid-command
    assert (p.returncode, err.decode().splitlines()) == (
        1, ["error: database unavailable: no answer within database_timeout"]), out
    assert took < 2 * TIMEOUT + 3.0, took  # the query, the rollback on exit, the start
