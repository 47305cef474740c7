"""Several bot replicas share one database (each with its own engine, as
separate processes): a storm spread over them still makes one capture per
host, and the budget holds for all of them together. SQLite here; the same
on the real PostgreSQL in test_e2e_postgres.py. Also: Socket Mode."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from bot.config import HostEntry, SSHSettings
from tests.alerts.conftest import DEAD, Replica, count_alerts
from tests.alerts.senders import alert_settings, am_alert, am_payload
from tests.fakeslack import FakeSlack
from tests.slack.conftest import summary_of

DEADS = [HostEntry(name=f"dead-{i:02d}", address="127.0.0.1", port=1) for i in range(1, 5)]
QUICK_SSH = SSHSettings(retries=0, connect_timeout=2)


async def storm(bots: list[Replica], payloads: list[dict[str, Any]], times: int,
                parallel: int = 40) -> list[str]:
    """Every payload `times` times, spread round-robin over the replicas."""
    sem = asyncio.Semaphore(parallel)
    turn = itertools.cycle(bots)

    async def one(bot: Replica, p: dict[str, Any]) -> list[str]:
        async with sem:
            r = await bot.send.am(p)
            assert r.status == 200, r.body
            return r.outcomes

    jobs = [one(next(turn), p) for _ in range(times) for p in payloads]
    return [o for outs in await asyncio.gather(*jobs) for o in outs]


async def storm_makes_one_snapshot_per_host(replicas, fake: FakeSlack) -> None:
    settings = {"hosts": [DEAD], "ssh": QUICK_SSH}
    a: Replica = await replicas(settings=settings)
    b: Replica = await replicas(settings=settings)
    grouped = am_payload(am_alert("HostThreadsNearLimit", instance="localhost:9100"),
                         am_alert("HostThreadsNearLimit", instance="dead-01:9100"),
                         am_alert("HostThreadsNearLimit", instance="web-99:9100"))
    other = am_payload(am_alert("ForkFailing", instance="localhost:9100"))
    outcomes = await storm([a, b], [grouped, other], times=150)
    assert outcomes.count("capturing") == 2  # localhost and dead-01, once each
    assert outcomes.count("unknown_host") == 1 and outcomes.count("covered") == 1
    assert outcomes.count("duplicate") == 150 * 4 - 4

    msg, sid = await summary_of(fake, host="localhost", channel="CINC")
    failed, _ = await summary_of(fake, host="dead-01", channel="CINC")
    await asyncio.gather(a.idle(), b.idle())
    assert sorted(m.ts for m in fake.top_level("CINC")) == sorted([msg.ts, failed.ts])
    assert await a.snapshots() == 2
    assert await count_alerts(a.store) == 4
    assert (await a.store.get_snapshot(sid)).status == "complete"


async def test_two_replicas_on_sqlite(replicas, fake: FakeSlack) -> None:
    await storm_makes_one_snapshot_per_host(replicas, fake)


async def test_budget_holds_across_replicas(replicas, fake: FakeSlack) -> None:
    settings = {"hosts": DEADS, "ssh": QUICK_SSH}
    a = await replicas(alert_settings(budget_per_minute=2), settings=settings)
    b = await replicas(alert_settings(budget_per_minute=2), settings=settings)
    alerts = [am_payload(am_alert("HostThreadsNearLimit", instance=h.name)) for h in DEADS]
    outcomes = await storm([a, b], alerts, times=3, parallel=8)
    assert sorted(o for o in outcomes if o != "duplicate") == [
        "budget", "budget", "capturing", "capturing"]
    await asyncio.gather(a.idle(), b.idle())
    assert await a.snapshots() == 2


async def test_socket_mode_still_serves_alerts_and_metrics(replicas, fake: FakeSlack) -> None:
    bot: Replica = await replicas(mode="socket")
    assert fake.calls_of("apps.connections.open")
    r = await bot.send.am(am_payload(am_alert("ForkFailing", instance="localhost:9100")))
    assert r.outcomes == ["capturing"]
    await summary_of(fake, host="localhost", channel="CINC")
    await bot.idle()
    async with bot.send.session.get(bot.send.base + "/metrics") as m:
        text = await m.text()
    assert 'hostsnap_alerts_total{outcome="capturing",receiver="am"} 1' in text
    assert 'hostsnap_alert_captures_total{status="complete"} 1' in text
    assert "hostsnap_alert_webhook_seconds_count" in text
    async with bot.send.session.post(bot.send.base + "/slack/events", data=b"{}") as resp:
        assert resp.status == 404  # Slack comes over the socket in this mode


async def test_a_capture_failed_on_one_replica_is_retried_by_another(
        replicas, fake: FakeSlack) -> None:
    """Replica b answered "covered" while a's capture of dead-01 ran; a's
    capture failed; after retry_failed_after, b's next alert captures — b must
    not keep answering from its memory for the whole cooldown."""
    settings = {"hosts": [DEAD], "ssh": QUICK_SSH}
    opts = alert_settings(retry_failed_after=1.0)
    a: Replica = await replicas(opts, settings=settings)
    b: Replica = await replicas(opts, settings=settings)
    r = await a.send.am(am_payload(am_alert("HostThreadsNearLimit", instance="dead-01")))
    assert r.outcomes == ["capturing"]
    r = await b.send.am(am_payload(am_alert("ForkFailing", instance="dead-01")))
    assert r.outcomes == ["covered"]
    await summary_of(fake, host="dead-01", channel="CINC")
    await a.idle()
    await asyncio.sleep(1.2)
    r = await b.send.am(am_payload(am_alert("ForkFailing", instance="dead-01",
                                            starts=1_795_000_077.0)))
    assert r.outcomes == ["capturing"]
    await b.idle()
    assert [x.outcome for x in await b.alert_rows(host="dead-01")] == [
        "capture_failed", "covered", "capture_failed"]
