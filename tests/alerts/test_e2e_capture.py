"""Alerts in, snapshots and Slack messages out: `localhost` (this machine, no
SSH) captured with limits, memory and network, posted through the fake Slack
into the route's channel."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from sqlalchemy import delete
from typer.testing import CliRunner

from bot.cli import app
from bot.config import SSHSettings
from bot.store.models import AlertCooldownRow
from tests.alerts.conftest import DEAD, Replica
from tests.alerts.senders import (
    ALERTMANAGER_GROUPED,
    alert_settings,
    am_alert,
    am_payload,
    grafana_payload,
    resolved,
)
from tests.fakeslack import FakeSlack
from tests.slack.conftest import summary_of


async def wait_reply(fake: FakeSlack, channel: str, ts: str, text: str,
                     timeout: float = 10.0) -> str:
    def found() -> str | None:
        for m in fake.replies(channel, ts):
            if text in m.all_text:
                return m.all_text
        return None

    return str(await fake.wait_for(found, timeout, f"reply {text!r}"))


async def test_grouped_alertmanager_alert_captures_the_known_host(replicas,
                                                                  fake: FakeSlack) -> None:
    bot: Replica = await replicas()
    r = await bot.send.am(ALERTMANAGER_GROUPED)
    assert r.status == 200 and r.elapsed < 1.0  # answered before the capture ends
    assert r.outcomes == ["capturing", "unknown_host"]
    local, unknown = r.body["alerts"]
    assert local["host"] == "localhost" and local["route"] == "threads"
    assert local["detail"] == "capturing localhost (instance=localhost) into CINC"
    assert unknown["detail"] == ("instance=10.99.0.7: not in the inventory; recorded, "
                                 "nothing contacted")

    msg, sid = await summary_of(fake, host="localhost", channel="CINC")
    await bot.idle()
    assert fake.top_level("CINC") == [msg]  # one message in the route's channel...
    assert not fake.bot_messages("C1")  # ...and nowhere else
    first = msg.history[0]["blocks"] if msg.history else msg.blocks
    shown = json.dumps(first, ensure_ascii=False)
    assert "Capturing localhost" in shown
    assert "alert *HostThreadsNearLimit* · critical · via am" in shown
    assert f"*localhost* — snapshot `{sid}` · complete" in msg.all_text
    assert "requested by" not in msg.all_text  # nobody did: the alert did

    replies = fake.replies("CINC", msg.ts)
    why = replies[0].all_text  # the alert first, then the details
    assert ":rotating_light: *HostThreadsNearLimit* firing on *localhost* since 12:58 UTC" in why
    assert "> threads at 94% of the limit on localhost:9100" in why
    assert "<http://prometheus:9090/graph?g0.expr=" in why
    assert "captured by route threads · via am" in why
    assert any(f"Details of snapshot `{sid}`" in m.all_text for m in replies[1:])

    view = await bot.store.get_snapshot(sid)
    assert (view.status, view.trigger) == ("complete", "alert")
    assert view.requested_by == "alert:am/HostThreadsNearLimit"
    assert sorted(c.name for c in view.collectors) == ["limits", "memory", "network"]
    rows = await bot.alert_rows()
    assert sorted((a.outcome, a.host, a.snapshot_id or "") for a in rows) == [
        ("captured", "localhost", sid), ("unknown_host", "instance=10.99.0.7", "")]
    audit = await bot.store.audit_events(limit=50)
    refused = [a for a in audit if a.action == "refused"]
    assert [(a.actor, a.target, a.detail["kind"]) for a in refused] == [
        ("alert:am/HostThreadsNearLimit", "instance=10.99.0.7", "unknown_host")]
    assert any(a.action == "capture" and a.snapshot_id == sid
               and a.actor == "alert:am/HostThreadsNearLimit" for a in audit)

    # Alertmanager sends the group again (repeat_interval, or its HA peer): nothing new
    again = await bot.send.am(ALERTMANAGER_GROUPED)
    assert again.outcomes == ["duplicate", "duplicate"]
    await bot.idle()
    assert await bot.snapshots() == 1 and len(fake.top_level("CINC")) == 1

    # resolved: said in the snapshot's thread
    payload = json.loads(ALERTMANAGER_GROUPED)
    done = am_payload(resolved(payload["alerts"][0], ends=time.time()))
    r = await bot.send.am(done)
    assert r.outcomes == ["resolved"] and r.body["alerts"][0]["host"] == "localhost"
    text = await wait_reply(fake, "CINC", msg.ts, "resolved")
    assert ":white_check_mark: *HostThreadsNearLimit* resolved on *localhost*" in text
    assert (await bot.send.am(done)).outcomes == ["duplicate"]
    await bot.idle()
    assert sum("resolved on" in m.all_text for m in fake.replies("CINC", msg.ts)) == 1


async def test_a_storm_of_1000_deliveries_makes_one_capture(replicas, fake: FakeSlack) -> None:
    bot: Replica = await replicas()
    payload = am_payload(am_alert("HostThreadsNearLimit", instance="localhost:9100"))
    sem = asyncio.Semaphore(50)

    async def one() -> str:
        async with sem:
            r = await bot.send.am(payload)
            assert r.status == 200
            return r.outcomes[0]

    outcomes = await asyncio.gather(*(one() for _ in range(1000)))
    assert outcomes.count("capturing") == 1 and outcomes.count("duplicate") == 999
    await summary_of(fake, host="localhost", channel="CINC")
    await bot.idle()
    assert await bot.snapshots() == 1
    assert len(fake.top_level("CINC")) == 1
    assert [a.outcome for a in await bot.alert_rows()] == ["captured"]


async def test_cooldown_covers_other_alerts_and_their_resolution(replicas,
                                                                 fake: FakeSlack) -> None:
    bot: Replica = await replicas()
    threads = am_alert("HostThreadsNearLimit", instance="localhost:9100")
    fork = am_alert("ForkFailing", instance="localhost:9100", starts=1_795_000_030.5)
    assert (await bot.send.am(am_payload(threads))).outcomes == ["capturing"]
    r = await bot.send.am(am_payload(fork))
    assert r.outcomes == ["covered"]
    assert r.body["alerts"][0]["detail"].startswith("localhost was captured for alert #1 "
                                                    "less than 600 s ago (cooldown)")
    msg, _ = await summary_of(fake, host="localhost", channel="CINC")
    await bot.idle()
    assert await bot.snapshots() == 1

    await bot.send.am(am_payload(resolved(fork)))
    text = await wait_reply(fake, "CINC", msg.ts, "*ForkFailing* resolved")
    assert "it fired while this snapshot's cooldown held" in text
    assert "(firing since " in text
    await bot.send.am(am_payload(resolved(threads)))
    await wait_reply(fake, "CINC", msg.ts, "*HostThreadsNearLimit* resolved")


async def test_grafana_alert_signed_with_a_timestamp(replicas, fake: FakeSlack) -> None:
    bot: Replica = await replicas()
    r = await bot.send.grafana(grafana_payload("ForkFailing", instance="localhost:9100"))
    assert r.status == 200 and r.outcomes == ["capturing"]
    msg, _ = await summary_of(fake, host="localhost", channel="CINC")
    await bot.idle()
    why = fake.replies("CINC", msg.ts)[0].all_text
    assert "*ForkFailing* firing on *localhost* since 12:58 UTC" in why
    assert "values: `[ var='B' labels={instance=localhost:9100} value=31802 ]" in why
    assert "via grafana" in why

    r = await bot.send.grafana(grafana_payload("ForkFailing", instance="localhost:9100",
                                               status="resolved",
                                               ends="2026-11-23T13:10:40Z"))
    assert r.outcomes == ["resolved"]
    text = await wait_reply(fake, "CINC", msg.ts, "resolved")
    assert "resolved on *localhost* at 13:10 UTC (firing since 12:58 UTC, 12 min)" in text


async def test_generic_form_routes_and_channels(replicas, fake: FakeSlack) -> None:
    bot: Replica = await replicas()
    r = await bot.send.generic({"name": "PaymentsLatencyHigh", "host": "localhost",
                                "labels": {"team": "payments"},
                                "summary": "p99 at 2.3 s"})
    assert r.outcomes == ["capturing"] and r.body["alerts"][0]["route"] == "payments"
    msg, _ = await summary_of(fake, host="localhost", channel="CPAY")
    await bot.idle()
    assert not fake.top_level("CINC")
    assert "> p99 at 2.3 s" in fake.replies("CPAY", msg.ts)[0].all_text
    # no starts_at: each delivery is new, so the cooldown is what holds it back
    r = await bot.send.generic({"name": "PaymentsLatencyHigh", "host": "localhost",
                                "labels": {"team": "payments"}})
    assert r.outcomes == ["covered"]
    # routes that do not match, or only warm: recorded, nothing captured
    r = await bot.send.generic({"alerts": [
        {"name": "DiskAlmostFull", "host": "localhost", "severity": "critical"},
        {"name": "ThreadsRising", "host": "localhost", "severity": "warning"}]})
    assert r.outcomes == ["no_route", "warmed"]
    assert r.body["alerts"][1]["detail"] == ("this machine needs no warm session; "
                                             "route does not capture")
    await bot.idle()
    assert await bot.snapshots() == 1


async def test_budget_and_bounded_fan_out(replicas, fake: FakeSlack) -> None:
    bot: Replica = await replicas(
        alert_settings(budget_per_minute=2, concurrency=1),
        settings={"hosts": [DEAD], "ssh": SSHSettings(retries=0, connect_timeout=2)})
    inflight = peak = 0
    real = bot.running.bot.captures.capture

    async def counted(*a, **kw):  # type: ignore[no-untyped-def]
        nonlocal inflight, peak
        inflight += 1
        peak = max(peak, inflight)
        try:
            return await real(*a, **kw)
        finally:
            inflight -= 1

    bot.running.bot.captures.capture = counted  # type: ignore[method-assign]
    r = await bot.send.am(am_payload(
        am_alert("HostThreadsNearLimit", instance="localhost:9100"),
        am_alert("HostThreadsNearLimit", instance="127.0.0.1:9100"),  # dead-01's address
        am_alert("HostThreadsNearLimit", instance="dead-01"),  # same host, covered
        am_alert("HostThreadsNearLimit", host="web-77")))
    assert r.outcomes == ["capturing", "capturing", "covered", "unknown_host"]
    r = await bot.send.am(am_payload(am_alert("ForkFailing", instance="localhost")))
    assert r.outcomes == ["covered"]
    await summary_of(fake, host="localhost", channel="CINC")
    failed, _ = await summary_of(fake, host="dead-01", channel="CINC")
    await bot.idle()
    assert peak == 1  # concurrency = 1: one capture at a time
    assert "Could not capture *dead-01*" in failed.all_text
    assert await bot.snapshots() == 2
    rows = [(a.host, a.outcome) for a in await bot.alert_rows(alertname="HostThreadsNearLimit")]
    assert sorted(rows) == [("dead-01", "capture_failed"), ("dead-01", "covered"),
                            ("host=web-77", "unknown_host"), ("localhost", "captured")]

    # the budget (2 a minute) is spent: once localhost's cooldown is over, its next
    # alert is recorded, not captured
    async with bot.store.sessions.begin() as s:  # in the database...
        await s.execute(delete(AlertCooldownRow))
    bot.alerts._cooling.clear()  # ...and in what this replica remembers of it
    r = await bot.send.am(am_payload(am_alert("HostThreadsNearLimit", instance="localhost",
                                              starts=1_795_009_000.0)))
    assert r.outcomes == ["budget"]
    assert r.body["alerts"][0]["detail"] == (
        "2 captures started in the last 60 s (budget_per_minute); recorded, captured on a "
        "repeat once the budget allows")


async def test_a_failed_capture_holds_its_host_only_briefly(replicas, fake: FakeSlack,
                                                           monkeypatch) -> None:
    """No evidence was saved: the next alert for the host after
    retry_failed_after tries again instead of being "covered" by the failure."""
    bot: Replica = await replicas(
        alert_settings(retry_failed_after=1.5),
        settings={"hosts": [DEAD], "ssh": SSHSettings(retries=0, connect_timeout=2)})
    r = await bot.send.am(am_payload(am_alert("HostThreadsNearLimit", instance="dead-01")))
    assert r.outcomes == ["capturing"]
    failed, _ = await summary_of(fake, host="dead-01", channel="CINC")
    await bot.idle()
    assert "Could not capture *dead-01*" in failed.all_text
    failed_at = time.monotonic()
    # within retry_failed_after: still held (a storm on an unreachable host
    # does not become a connect storm)
    r = await bot.send.am(am_payload(am_alert("ForkFailing", instance="dead-01")))
    assert r.outcomes == ["covered"]
    await asyncio.sleep(max(0.0, failed_at + 1.6 - time.monotonic()))
    r = await bot.send.am(am_payload(am_alert("ForkFailing", instance="dead-01",
                                              starts=1_795_000_099.0)))
    assert r.outcomes == ["capturing"]  # well short of the 600 s cooldown
    await bot.idle()
    rows = [a.outcome for a in await bot.alert_rows(host="dead-01")]
    assert rows.count("capture_failed") == 2 and rows.count("covered") == 1
    # a capture that worked holds its host for the whole cooldown
    r = await bot.send.am(am_payload(am_alert("HostThreadsNearLimit",
                                              instance="localhost:9100")))
    assert r.outcomes == ["capturing"]
    await summary_of(fake, host="localhost", channel="CINC")
    await bot.idle()
    await asyncio.sleep(1.6)
    r = await bot.send.am(am_payload(am_alert("ForkFailing", instance="localhost:9100")))
    assert r.outcomes == ["covered"]


async def test_a_resolution_overtaking_its_capture_waits_for_the_thread(replicas,
                                                                        fake: FakeSlack) -> None:
    bot: Replica = await replicas()
    fired = am_alert("ForkFailing", instance="localhost:9100")
    first, then = await asyncio.gather(bot.send.am(am_payload(fired)),
                                       bot.send.am(am_payload(resolved(fired))))
    assert (first.outcomes, then.outcomes) == (["capturing"], ["resolved"])
    msg, _ = await summary_of(fake, host="localhost", channel="CINC")
    await wait_reply(fake, "CINC", msg.ts, "*ForkFailing* resolved on *localhost*")
    await bot.idle()
    assert len(fake.top_level("CINC")) == 1


async def test_hostsnap_alerts_says_what_became_of_each(replicas, fake: FakeSlack,
                                                        db_url: str, tmp_path) -> None:
    """`hostsnap alerts`: the on-call's answer to "why no snapshot?"."""
    bot: Replica = await replicas()
    r = await bot.send.am(am_payload(
        am_alert("HostThreadsNearLimit", instance="localhost:9100"),
        am_alert("HostThreadsNearLimit", instance="10.99.0.7:9100")))
    assert r.outcomes == ["capturing", "unknown_host"]
    r = await bot.send.generic({"name": "DiskAlmostFull", "host": "localhost",
                                "severity": "critical"})
    assert r.outcomes == ["no_route"]
    _, sid = await summary_of(fake, host="localhost", channel="CINC")
    await bot.idle()

    def cli(*args: str) -> Any:
        return CliRunner().invoke(app, ["alerts", *args],
                                  env={"HOSTSNAP_DATABASE_URL": db_url, "COLUMNS": "250",
                                       "HOSTSNAP_CONFIG": None,
                                       "XDG_CONFIG_HOME": str(tmp_path / "no-config")})

    res = await asyncio.to_thread(cli, "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert [(a["alertname"], a["outcome"]) for a in doc] == [
        ("DiskAlmostFull", "no_route"), ("HostThreadsNearLimit", "unknown_host"),
        ("HostThreadsNearLimit", "captured")]  # newest first
    assert doc[2]["snapshot_id"] == sid and doc[2]["host"] == "localhost"
    assert doc[1]["detail"] == "instance=10.99.0.7: not in the inventory; recorded, nothing contacted"

    res = await asyncio.to_thread(cli)
    assert res.exit_code == 0, res.output
    line = next(x for x in res.stdout.splitlines() if "unknown_host" in x)
    assert "HostThreadsNearLimit" in line and "not in the inventory" in line
    assert sid in res.stdout

    res = await asyncio.to_thread(cli, "--outcome", "captured", "--json")
    assert [a["snapshot_id"] for a in json.loads(res.stdout)] == [sid]
    res = await asyncio.to_thread(cli, "--host", "web-42")
    assert res.exit_code == 0 and "no alerts for web-42 received yet" in res.stdout
