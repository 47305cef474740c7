"""The key numbers are always shown (issue 16): with no ceiling finding the
summary showed no figures at all. Threads against the nearest ceiling (named),
TIME_WAIT against the port range, memory available, the top consumer — and
"no ceiling near" — in `hostsnap snapshot` and in the Slack summary."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys

from bot.render.keyfacts import key_facts, nearest_ceiling
from collectors.analysis.hostmodels import CgroupPids, LimitsSummary
from tests.fakeslack import FakeSlack
from tests.slack.conftest import summary_of

FACTS = (r"threads [\d ]+ of (threads-max|pid_max|pids\.max of cgroup \S+|ulimit -u of user \S+)"
         r" [\d ]+ \(\d+ %\)")


async def test_cli_summary_shows_the_numbers_without_any_ceiling_finding(tmp_path) -> None:
    env = {**os.environ, "HOSTSNAP_DATABASE_URL": f"sqlite:///{tmp_path}/hs.db",
           "XDG_CONFIG_HOME": str(tmp_path / "noconfig"), "COLUMNS": "250"}
    env.pop("HOSTSNAP_CONFIG", None)
    r = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "bot", "snapshot", "localhost", "-c",
                         "limits,memory,network"], env=env, capture_output=True, text=True,
        timeout=120)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "THREAD_CEILING" not in out  # this machine is nowhere near one
    assert re.search(FACTS + " — no ceiling near", out), out
    assert re.search(r"TIME_WAIT [\d ]+ of [\d ]+ ports \(ip_local_port_range\)", out), out
    assert re.search(r"memory available [\d.]+ GiB of [\d.]+ GiB", out), out
    assert re.search(r"top consumer: \S+ pid \d+ \(\S+\) [\d ]+ threads", out), out


async def test_slack_summary_shows_the_same_numbers(bot, fake: FakeSlack) -> None:
    await fake.command("localhost")
    msg, sid = await summary_of(fake)
    await bot.idle()
    t = msg.all_text
    view = await bot.store.get_snapshot(sid)
    facts = key_facts(view)
    assert len(facts) == 4, facts
    for f in facts:  # the same pure function as the terminal
        assert f in t, (f, t)
    assert re.search(FACTS, t) and "TIME_WAIT " in t and "memory available " in t


def test_nearest_ceiling_names_which() -> None:
    s = LimitsSummary(threads_max=100_000, pid_max=4_194_304, kernel_tasks=900,
                      visible_threads=900,
                      cgroups=[CgroupPids(path="/app", version=2, pids_current=800,
                                          pids_max=1000)])
    assert nearest_ceiling(s) == ("pids.max of cgroup /app", 800, 1000)
