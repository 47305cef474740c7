"""Issue 17: a firing alert nothing was captured for (budget used up, its
capture failed, or the capture covering it failed) is captured on its next
repeat once the budget or the host allows, exactly once across replicas;
Alertmanager re-sends the same body (same fingerprint and startsAt), which
used to be a `duplicate` for good. Two replicas on SQLite and on PostgreSQL.
Also what `covered` says after a failed capture, and `hostsnap alerts --host`
for a host not in the inventory."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.config import SSHSettings
from tests.alerts.conftest import DEAD, Replica
from tests.alerts.senders import alert_settings, am_alert, am_payload
from tests.fakeslack import FakeSlack
from tests.slack.conftest import summary_of

QUICK_SSH = SSHSettings(retries=0, connect_timeout=2)
SETTINGS = {"hosts": [DEAD], "ssh": QUICK_SSH}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/hostsnap.db"
    return request.getfixturevalue("pg_url")  # a throwaway database, dropped after


@pytest.fixture(autouse=True)
def recheck_after_1s(monkeypatch) -> None:
    """What a replica remembers of an unsettled outcome: 10 s; Alertmanager's
    repeats come minutes apart, these tests' within seconds."""
    monkeypatch.setattr("bot.alerts.service.RECHECK_S", 1.0)


@pytest.fixture
def later(monkeypatch) -> Any:
    """later(seconds): the ledger's clock (cooldowns, budget) moves on."""
    offset = {"s": 0.0}
    monkeypatch.setattr("bot.alerts.ledger.now",
                        lambda: datetime.now(UTC) + timedelta(seconds=offset["s"]))

    def move(seconds: float) -> None:
        offset["s"] += seconds
    return move


async def repeats(bots: list[Replica], payload: dict[str, Any], times: int) -> list[str]:
    """Alertmanager re-sending one notification, `times` to each replica at once."""
    replies = await asyncio.gather(*(b.send.am(payload) for _ in range(times) for b in bots))
    assert all(r.status == 200 for r in replies), [r.body for r in replies]
    return [o for r in replies for o in r.outcomes]


async def test_budget_refused_alert_is_captured_on_its_repeat_once(
        replicas, fake: FakeSlack, later: Any) -> None:
    opts = alert_settings(budget_per_minute=1)
    a: Replica = await replicas(opts, settings=SETTINGS)
    b: Replica = await replicas(opts, settings=SETTINGS)
    r = await a.send.am(am_payload(am_alert("HostThreadsNearLimit", instance="dead-01")))
    assert r.outcomes == ["capturing"]  # the minute's one capture
    fork = am_payload(am_alert("ForkFailing", instance="localhost:9100"))
    r = await a.send.am(fork)
    assert r.outcomes == ["budget"]
    assert "captured on a repeat once the budget allows" in r.body["alerts"][0]["detail"]
    # repeated while the budget is still spent: not captured, on either replica
    outcomes = await repeats([a, b], fork, 3)
    assert "capturing" not in outcomes and set(outcomes) <= {"budget", "duplicate"}

    later(61)  # the dead-01 capture is out of the last 60 s
    await asyncio.sleep(1.1)  # RECHECK_S: what the replicas remember of `budget`
    outcomes = await repeats([a, b], fork, 5)
    assert sorted(set(outcomes)) == ["capturing", "duplicate"]
    assert outcomes.count("capturing") == 1

    _, sid = await summary_of(fake, host="localhost", channel="CINC")
    await asyncio.gather(a.idle(), b.idle())
    [row] = await a.alert_rows(alertname="ForkFailing")
    assert (row.outcome, row.snapshot_id) == ("captured", sid)
    assert (await a.store.get_snapshot(sid)).status == "complete"
    # captured: further repeats are duplicates, and nothing more is captured
    await asyncio.sleep(1.1)
    assert set(await repeats([a, b], fork, 3)) == {"duplicate"}
    await asyncio.gather(a.idle(), b.idle())
    assert await a.snapshots() == 2  # dead-01's failed one and localhost's


async def test_failed_capture_and_the_alert_it_covered_retry_on_repeat_once(
        replicas, fake: FakeSlack) -> None:
    opts = alert_settings(retry_failed_after=1.0)
    a: Replica = await replicas(opts, settings=SETTINGS)
    b: Replica = await replicas(opts, settings=SETTINGS)
    threads = am_payload(am_alert("HostThreadsNearLimit", instance="dead-01"))
    fork = am_payload(am_alert("ForkFailing", instance="dead-01"))
    r = await a.send.am(threads)
    assert r.outcomes == ["capturing"]
    first, _ = await summary_of(fake, host="dead-01", channel="CINC")
    await a.idle()
    [failed] = await a.alert_rows(alertname="HostThreadsNearLimit")
    assert failed.outcome == "capture_failed"

    # covered by the failed capture: it says so, and names retry_failed_after
    r = await b.send.am(fork)
    assert r.outcomes == ["covered"]
    detail = r.body["alerts"][0]["detail"]
    assert re.fullmatch(rf"alert #{failed.id}'s capture of dead-01 failed \d+ s ago; "
                        r"retrying after retry_failed_after = 1 s \(in \d+ s\); recorded",
                        detail), detail
    assert "cooldown" not in detail
    # within retry_failed_after: repeats change nothing
    assert set(await repeats([a, b], threads, 2)) == {"duplicate"}

    await asyncio.sleep(1.2)
    both = await asyncio.gather(repeats([a, b], threads, 4), repeats([a, b], fork, 4))
    outcomes = both[0] + both[1]
    # one of the two captures dead-01 again; the other is covered by it (reopened
    # if it came first, or still covered by the alert it named, captured again)
    assert outcomes.count("capturing") == 1
    assert set(outcomes) <= {"capturing", "covered", "duplicate"}
    assert outcomes.count("covered") <= 1
    second, _ = await summary_of(fake, host="dead-01", channel="CINC", skip=(first,))
    await asyncio.gather(a.idle(), b.idle())
    assert "Could not capture *dead-01*" in second.all_text
    assert await a.snapshots() == 2
    rows = {x.outcome: x for x in await a.alert_rows(host="dead-01")}
    assert sorted(rows) == ["capture_failed", "covered"]
    assert rows["covered"].covered_by == rows["capture_failed"].id


async def test_hostsnap_alerts_host_finds_unknown_hosts_by_any_label(
        replicas, db_url: str, tmp_path) -> None:
    bot: Replica = await replicas()
    r = await bot.send.am(am_payload(
        am_alert("HostThreadsNearLimit", host="th9", instance="th9:9100"),
        am_alert("HostThreadsNearLimit", instance="th99:9100"),
        am_alert("HostThreadsNearLimit", instance="x_th9")))
    assert r.outcomes == ["unknown_host"] * 3
    ledger = bot.alerts.ledger
    assert [v.host for v in await ledger.recent(10, host="th9")] == ["host=th9, instance=th9"]
    assert [v.host for v in await ledger.recent(10, host="th99")] == ["instance=th99"]
    assert await ledger.recent(10, host="th") == []
    assert await ledger.recent(10, host="%th9") == []  # LIKE characters are literal
    assert await ledger.recent(10, host="x%th9") == []
    assert [v.host for v in await ledger.recent(10, host="x_th9")] == ["instance=x_th9"]

    def cli(*args: str) -> Any:
        return CliRunner().invoke(app, ["alerts", *args],
                                  env={"HOSTSNAP_DATABASE_URL": db_url, "COLUMNS": "250",
                                       "HOSTSNAP_CONFIG": None,
                                       "XDG_CONFIG_HOME": str(tmp_path / "no-config")})

    res = await asyncio.to_thread(cli, "--host", "th9", "--json")
    assert res.exit_code == 0, res.output
    assert [a["host"] for a in json.loads(res.stdout)] == ["host=th9, instance=th9"]
