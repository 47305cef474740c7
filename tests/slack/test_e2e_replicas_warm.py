"""Warm sessions with several bot replicas on one PostgreSQL: Slack (or an
alert sender) reaches any replica, so `/snapshot watch` on one must give the
others a warm session too — else `/snapshot HOST` on another replica captures
cold, and fails once the host refuses new logins."""

from __future__ import annotations

import asyncio
import subprocess

import pytest

from bot.config import HostEntry, SSHSettings, WatchSettings
from bot.settings.slack import AuthzRule
from tests.fakeslack import FakeSlack
from tests.slack.conftest import BotUnderTest, lab_entry, summary_of

pytestmark = pytest.mark.postgres


@pytest.fixture
def db_url(pg_url: str) -> str:
    return pg_url


def to(fake: FakeSlack, bot: BotUnderTest) -> None:
    """Slack's next request goes to this replica."""
    fake.events_url = f"http://127.0.0.1:{bot.running.port}/slack/events"


async def test_watch_on_one_replica_warms_the_other(bot_factory, fake: FakeSlack) -> None:
    dead = HostEntry(name="dead-01", address="127.0.0.1", port=1, group="dead")
    opts = {"hosts": [dead], "ssh": SSHSettings(retries=0, connect_timeout=2),
            "watch": WatchSettings(sync_interval=0.2)}
    one = await bot_factory(settings=opts)
    two = await bot_factory(settings=opts)
    pools = [b.running.bot.captures.pool for b in (one, two)]

    to(fake, one)
    await fake.command("watch dead-01")
    await one.idle()
    await fake.wait_for(lambda: all("slack:U1" in getattr(p.warm_states.get("dead-01"),
                                                          "holders", ()) for p in pools),
                        10, "both replicas keeping dead-01 warm")
    # the other replica lists it too, as kept by the user who asked
    to(fake, two)
    await fake.command("watch")
    await two.idle()
    assert "kept by <@U1>" in fake.bot_messages("C1")[-1].all_text

    await fake.command("unwatch dead-01", user="U2")  # on the other replica
    await two.idle()
    assert "dead-01: closed" in fake.bot_messages("C1")[-1].all_text
    await fake.wait_for(lambda: all("dead-01" not in p.warm_states for p in pools), 10,
                        "both replicas closing it")


@pytest.mark.root
async def test_capture_at_the_ceiling_through_the_replica_that_did_not_watch(
        host, bot_factory, fake: FakeSlack) -> None:
    opts = {"hosts": [lab_entry(host)], "allow_localhost": False,
            "ssh": SSHSettings(use_agent=False, connect_timeout=5, retries=1),
            "watch": WatchSettings(sync_interval=0.2)}
    authz = [AuthzRule(user_groups=["*"], groups=["lab"], channels=["CINC"])]
    one = await bot_factory(authz=authz, settings=opts)
    two = await bot_factory(authz=authz, settings=opts)
    to(fake, one)
    await fake.command(f"watch {host.name}", channel="CINC")
    await one.idle()
    ws = two.running.bot.captures.pool
    await fake.wait_for(lambda: host.name in ws.warm_states, 10, "the other replica's session")
    await asyncio.wait_for(ws.warm_states[host.name].ready.wait(), 10)

    hog = host.fill_to_ceiling(name="partner-bridge")
    try:
        r = subprocess.run(host.ssh_argv("true"), capture_output=True, timeout=20)
        assert r.returncode != 0, "a new ssh login should fail at the ceiling"
        to(fake, two)
        await fake.command(host.name, channel="CINC")
        msg, sid = await summary_of(fake, host=host.name, channel="CINC", timeout=30)
        await two.idle()
        assert f"*{host.name}* — snapshot `{sid}` · complete" in msg.all_text
        assert f"top: partner-bridge pid {hog.host_pid}" in msg.all_text
    finally:
        hog.stop()
