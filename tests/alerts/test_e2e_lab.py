"""Alerts about real SSH test hosts (sshd in network namespaces, tests/lab):
a warning keeps a warm session, then a storm of the critical group alert,
spread over two replicas, makes exactly one snapshot per host, captured over
SSH and posted in the route's channel; resolutions close the warm session and
reach the snapshots' threads."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from bot.config import HostEntry, SSHSettings
from tests.alerts.conftest import Replica
from tests.alerts.senders import alert_settings, am_alert, am_payload, resolved
from tests.alerts.test_e2e_capture import wait_reply
from tests.alerts.test_e2e_replicas import storm
from tests.fakeslack import FakeSlack
from tests.lab.hosts import Lab, TestHost
from tests.slack.conftest import summary_of

pytestmark = pytest.mark.root


@pytest.fixture
def lab_hosts(lab: Lab, host: TestHost) -> Iterator[list[TestHost]]:
    extra = [lab.add_host(f"{host.name[:20]}-{i}") for i in range(3)]
    try:
        yield [host, *extra]
    finally:
        for h in extra:
            lab.remove_host(h)


def entry(h: TestHost) -> HostEntry:
    return HostEntry(name=h.name, address=h.address, port=h.port, user=h.user,
                     key_file=str(h.key_file), known_hosts=str(h.known_hosts_file), group="lab")


def count_concurrency(bot: Replica) -> dict[str, int]:
    seen = {"now": 0, "peak": 0}
    real = bot.running.bot.captures.capture

    async def counted(*a: Any, **kw: Any) -> Any:
        seen["now"] += 1
        seen["peak"] = max(seen["peak"], seen["now"])
        try:
            return await real(*a, **kw)
        finally:
            seen["now"] -= 1

    bot.running.bot.captures.capture = counted  # type: ignore[method-assign]
    return seen


async def test_storm_over_two_replicas_one_ssh_snapshot_per_host(
        replicas, lab_hosts: list[TestHost], fake: FakeSlack) -> None:
    settings = {"hosts": [entry(h) for h in lab_hosts], "allow_localhost": False,
                "ssh": SSHSettings(use_agent=False, connect_timeout=5, retries=1)}
    a: Replica = await replicas(alert_settings(concurrency=2), settings=settings)
    b: Replica = await replicas(alert_settings(concurrency=2), settings=settings)
    peaks = [count_concurrency(a), count_concurrency(b)]
    first = lab_hosts[0]

    # a warning first: keep a session to the host while it can still accept one
    warning = am_alert("ThreadsRising", instance=f"{first.address}:9100", severity="warning")
    r = await a.send.am(am_payload(warning))
    assert r.outcomes == ["warmed"]
    assert r.body["alerts"][0]["detail"] == "warm session kept; route does not capture"
    ws = a.running.bot.captures.pool.warm_states[first.name]
    await asyncio.wait_for(ws.ready.wait(), 15)
    assert ws.session is not None and not ws.session.closed

    # the critical group alert: 4 lab hosts by instance=address:port, one unknown
    group = [am_alert("HostThreadsNearLimit", instance=f"{h.address}:9100")
             for h in lab_hosts]
    group.append(am_alert("HostThreadsNearLimit", instance="10.213.0.250:9100"))
    outcomes = await storm([a, b], [am_payload(*group)], times=40)
    assert outcomes.count("capturing") == 4
    assert outcomes.count("unknown_host") == 1
    assert outcomes.count("duplicate") == 40 * 5 - 5

    summaries = {}
    for h in lab_hosts:
        summaries[h.name] = await summary_of(fake, host=h.name, channel="CINC", timeout=60)
    await asyncio.gather(a.idle(), b.idle())
    assert len(fake.top_level("CINC")) == 4  # one message per host, in the route's channel
    for name, (msg, sid) in summaries.items():
        assert f"*{name}* — snapshot `{sid}` · complete" in msg.all_text
        assert "Evidence saved — safe to restart." in msg.all_text
        view = await a.store.get_snapshot(sid)
        assert (view.host_group, view.trigger) == ("lab", "alert")
        why = fake.replies("CINC", msg.ts)[0].all_text
        assert f"*HostThreadsNearLimit* firing on *{name}*" in why
    assert await a.snapshots() == 4
    assert max(p["peak"] for p in peaks) <= 2  # alerts.concurrency per replica
    captured = [x for x in await a.alert_rows(outcome="captured")]
    assert sorted(x.host for x in captured) == sorted(h.name for h in lab_hosts)

    # resolutions: the warning closes the warm session, the critical one is told
    assert (await a.send.am(am_payload(resolved(warning)))).outcomes == ["resolved"]
    assert first.name not in a.running.bot.captures.pool.warm_states
    msg, _ = summaries[lab_hosts[1].name]
    await b.send.am(am_payload(resolved(group[1])))
    await wait_reply(fake, "CINC", msg.ts, "*HostThreadsNearLimit* resolved", timeout=15)
