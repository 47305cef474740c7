"""/snapshot against a real SSH test host (sshd in a network namespace, see
tests/lab): the incident-000 picture — a process eating the thread ceiling —
as the channel sees it."""

from __future__ import annotations

import pytest

from bot.config import HostEntry, SSHSettings
from bot.slack.settings import AuthzRule
from tests.fakeslack import FakeSlack
from tests.slack.conftest import summary_of

pytestmark = pytest.mark.root


async def test_snapshot_of_an_ssh_host_near_its_thread_ceiling(host, bot_factory,
                                                               fake: FakeSlack) -> None:
    host.thread_hog(1500, name="partner-bridge", user="appuser")
    host.set_pids_max(host.pids_current() + 40)  # ~97 % of pids.max: critical
    entry = HostEntry(name=host.name, address=host.address, port=host.port, user=host.user,
                      key_file=str(host.key_file), known_hosts=str(host.known_hosts_file),
                      group="lab")
    bot = await bot_factory(
        authz=[AuthzRule(groups=["lab"], channels=["CINC"])],
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
    assert "*MEMORY_FREE_THREADS_EXHAUSTED* memory is free" in t
    assert "*THREAD_CEILING* cgroup " in t and " of pids.max " in t
    assert "top: partner-bridge pid " in t and "(appuser) 1 500 threads" in t
    assert "Evidence saved — safe to restart." in t
    detail = "\n".join(m.all_text for m in fake.replies("CINC", msg.ts))
    assert "partner-bridge" in detail  # the top consumers table, in the thread
    view = await bot.store.get_snapshot(sid)
    assert view.host_group == "lab" and view.status == "complete"
