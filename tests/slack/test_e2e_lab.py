"""/snapshot against a real SSH test host (sshd in a network namespace, see
tests/lab): the incident-000 picture — a process eating the thread ceiling —
as the channel sees it."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest

from bot.config import SSHSettings, WatchSettings
from bot.settings.slack import AuthzRule
from collectors import registry
from tests.fakeslack import FakeSlack
from tests.slack.conftest import HOST_COLLECTORS, lab_entry, summary_of
from tests.slack.slowbot import SlowCollector

pytestmark = pytest.mark.root


async def test_snapshot_of_an_ssh_host_near_its_thread_ceiling(host, bot_factory,
                                                               fake: FakeSlack) -> None:
    host.thread_hog(1500, name="partner-bridge", user="appuser")
    host.set_pids_max(host.pids_current() + 40)  # ~97 % of pids.max: critical
    entry = lab_entry(host)
    bot = await bot_factory(
        authz=[AuthzRule(user_groups=["*"], groups=["lab"], channels=["CINC"])],
        settings={"hosts": [entry], "allow_localhost": False,
                  "ssh": SSHSettings(use_agent=False, connect_timeout=5, retries=1)})

    await fake.command("localhost", channel="CINC")  # not in this inventory
    await bot.idle()
    assert "unknown host 'localhost'" in fake.ephemerals_for("U1")[-1]

    ack = await fake.command(host.name, channel="CINC")
    assert ack.status == 200 and ack.elapsed < 1.0
    msg, sid = await summary_of(fake, host=host.name, channel="CINC", timeout=60)
    await bot.idle()
    t = msg.all_text
    assert f"*{host.name}* — snapshot `{sid}` · complete" in t
    # the incident-000 picture, with its numbers, in the channel
    # one red line with both facts (issue 16: MEMORY_FREE_THREADS_EXHAUSTED merged)
    assert "MEMORY_FREE_THREADS_EXHAUSTED" not in t
    assert "*THREAD_CEILING* cgroup " in t and " of pids.max " in t
    assert " — memory is free: " in t and "the thread ceiling is not" in t
    assert "top: partner-bridge pid " in t and "(appuser) 1 500 threads" in t
    assert "Evidence saved — safe to restart." in t
    detail = "\n".join(m.all_text for m in fake.replies("CINC", msg.ts))
    assert "partner-bridge" in detail  # the top consumers table, in the thread
    view = await bot.store.get_snapshot(sid)
    assert view.host_group == "lab" and view.status == "complete"


async def test_a_group_in_one_message_naming_the_odd_hosts(lab, bot_factory,
                                                           fake: FakeSlack) -> None:
    """`/snapshot @push`: four hosts, one eating threads, one running an old
    build (incidents 000 and 004) — one channel message names both."""
    hosts = [lab.add_host(f"push-{i}") for i in range(4)]
    procs = [h.spawn([sys.executable, "-c", "import time; time.sleep(120)",
                      f"/opt/push/push-server-{'1.4.2' if i == 2 else '1.5.0'}.jar"])
             for i, h in enumerate(hosts)]
    hog = hosts[1].thread_hog(1500, name="partner-bridge")
    try:
        bot = await bot_factory(
            authz=[AuthzRule(user_groups=["*"], groups=["push"], channels=["CINC"])],
            settings={"hosts": [lab_entry(h, "push") for h in hosts], "allow_localhost": False,
                      "ssh": SSHSettings(use_agent=False, connect_timeout=5, retries=1)})
        ack = await fake.command("@push", channel="CINC")
        assert ack.status == 200 and ack.elapsed < 1.0

        def done():
            top = fake.top_level("CINC")
            return top[0] if top and "4 hosts (@push)* — 4 saved" in top[0].all_text else None

        parent = await fake.wait_for(done, 60, "the fleet summary")
        await bot.idle()
        assert len(fake.top_level("CINC")) == 1
        t = parent.all_text
        assert "Stands out from its group" in t
        assert "• push-1: threads 1 5" in t
        assert "• push-2: runs push-server 1.4.2 while 3 of 4 run 1.5.0" in t
        assert not any(f"• push-{i}:" in t for i in (0, 3))
        assert "Evidence saved for 4 of 4 hosts" in t
        assert "stands out: push-1, push-2" in parent.text  # the notification text
        for h in hosts:  # each host's summary, with its snapshot, in the thread
            _, sid = await summary_of(fake, host=h.name, channel="CINC", thread_ts=parent.ts)
            assert sid in t
        assert len(fake.replies("CINC", parent.ts)) == 4
    finally:
        hog.stop()
        for p in procs:
            p.kill()
            p.wait()


async def test_watch_from_slack_then_capture_when_logins_fail(
        host, bot_factory, fake: FakeSlack, monkeypatch: pytest.MonkeyPatch) -> None:
    """`/snapshot watch HOST` while the host can still fork; once it is at its
    ceiling (a new ssh login fails), `/snapshot HOST` still captures, through
    that session; `/snapshot unwatch HOST` closes it."""
    # a 1 s collector: the progress is shown at least once before the summary
    monkeypatch.setitem(registry.COLLECTORS, "slow", SlowCollector)
    monkeypatch.setenv("SLOW_SECONDS", "1.0")
    bot = await bot_factory(
        collectors=[*HOST_COLLECTORS, "slow"],
        authz=[AuthzRule(user_groups=["*"], groups=["lab"], channels=["CINC"])],
        settings={"hosts": [lab_entry(host, "lab")], "allow_localhost": False,
                  "ssh": SSHSettings(use_agent=False, connect_timeout=5, retries=1)})
    await fake.command(f"watch {host.name}", channel="C2")  # not allowed there
    await bot.idle()
    assert "You may not" in fake.ephemerals_for("U1")[-1]
    pool = bot.running.bot.captures.pool
    assert not pool.warm_states

    await fake.command(f"watch {host.name}", channel="CINC")
    await bot.idle()
    (said,) = fake.bot_messages("CINC")
    assert "Keeping a warm session" in said.all_text
    assert f"*{host.name}* open" in said.all_text and "kept by <@U1>" in said.all_text

    hog = host.fill_to_ceiling(name="partner-bridge")
    try:
        r = subprocess.run(host.ssh_argv("true"), capture_output=True, timeout=20)
        assert r.returncode != 0, "a new ssh login should fail at the ceiling"
        await fake.command(host.name, channel="CINC")
        msg, sid = await summary_of(fake, host=host.name, channel="CINC", timeout=30)
        await bot.idle()
        assert f"*{host.name}* — snapshot `{sid}` · complete" in msg.all_text
        assert f"top: partner-bridge pid {hog.host_pid}" in msg.all_text
        assert "Evidence saved — safe to restart." in msg.all_text
        # said in Slack as the CLI says it (issue 16): progress, then summary
        assert any("connected (warm session)" in str(h["blocks"]) for h in msg.history)
        assert "captured through a warm session" in msg.all_text
    finally:
        hog.stop()

    await fake.command("watch", channel="CINC")
    await bot.idle()
    listed = fake.bot_messages("CINC")[-1].all_text
    assert "Warm sessions" in listed and f"*{host.name}* open" in listed
    await fake.command(f"unwatch {host.name}", channel="CINC")
    await bot.idle()
    assert f"{host.name}: closed" in fake.bot_messages("CINC")[-1].all_text
    assert not pool.warm_states
    audit = [a.action for a in await bot.store.audit_events(limit=50)]
    assert "warm" in audit and "unwarm" in audit


async def test_configured_hosts_are_kept_warm_from_the_start(host, bot_factory,
                                                             fake: FakeSlack) -> None:
    bot = await bot_factory(settings={
        "hosts": [lab_entry(host, "lab")], "allow_localhost": False,
        "ssh": SSHSettings(use_agent=False, connect_timeout=5, retries=1),
        "watch": WatchSettings(hosts=["@lab"])})
    ws = bot.running.bot.captures.pool.warm_states[host.name]
    assert ws.holders == {"config"}
    await asyncio.wait_for(ws.ready.wait(), 10)
    await fake.command("watch", channel="C1")
    await bot.idle()
    t = fake.bot_messages("C1")[-1].all_text
    assert f"*{host.name}* open" in t and "kept by the config ([watch] hosts)" in t
    # a Slack user cannot close what the config keeps
    await fake.command(f"unwatch {host.name}", channel="C1")
    await bot.idle()
    assert f"{host.name}: still kept open by the config ([watch] hosts)" in fake.bot_messages("C1")[-1].all_text
    assert host.name in bot.running.bot.captures.pool.warm_states
