"""Issue 16 (Slack plumbing, order under a burst), through the fake Slack:
a frozen Slack bounded by api_timeout, a deleted progress message, rights on
`list`, help and warm-session wording."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import select

from bot.config import HostEntry, SSHSettings
from bot.settings.slack import AuthzRule
from bot.slack.posts import DELIVERING, PENDING
from bot.store.models import SlackPostRow
from bot.store.service import Store
from collectors import registry
from tests.fakeslack import FakeSlack
from tests.slack.conftest import summary_of
from tests.slack.slowbot import SlowCollector
from tests.slack.test_e2e_browse import seed


async def post_rows(store) -> list[SlackPostRow]:
    async with store.sessions() as s:
        return list((await s.scalars(select(SlackPostRow))).all())


@pytest.mark.parametrize("mode", ["http", "socket"])
async def test_frozen_slack_calls_end_within_api_timeout_and_the_summary_is_queued(
        bot_factory, fake: FakeSlack, monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    monkeypatch.setitem(registry.COLLECTORS, "slow", SlowCollector)
    monkeypatch.setenv("SLOW_SECONDS", "1.0")
    bot = await bot_factory(collectors=["limits", "slow"], mode=mode, api_timeout=1,
                            retry_interval=30.0)
    await fake.command("localhost", via=mode)
    progress = await fake.wait_for(lambda: fake.top_level(), 5, "progress message")
    fake.freeze()  # Slack accepts connections and never answers
    t0 = time.monotonic()
    # before: aiohttp's 300 s default held the summary (the fake gives up at 120 s)
    await asyncio.wait_for(bot.idle(), 8)
    took = time.monotonic() - t0
    (row,) = await post_rows(bot.store)
    assert row.state in (PENDING, DELIVERING) and row.last_error, row.last_error
    assert took < 1 + 1.0 + 1.5, took  # the capture (1 s) + one bounded call + margin
    fake.freeze(False)
    assert await bot.running.bot.delivery.retry_pending() == 1
    msg, _ = await summary_of(fake)
    assert msg.ts == progress[0].ts  # the progress message, updated


@pytest.mark.parametrize("mode", ["http", "socket"])
async def test_a_deleted_progress_message_gets_the_summary_as_a_new_message(
        bot_factory, fake: FakeSlack, monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    monkeypatch.setitem(registry.COLLECTORS, "slow", SlowCollector)
    monkeypatch.setenv("SLOW_SECONDS", "1.0")
    bot = await bot_factory(collectors=["limits", "slow"], mode=mode)
    await fake.command("localhost", via=mode)
    (progress,) = await fake.wait_for(lambda: fake.top_level(), 5, "progress message")
    fake.delete("C1", progress.ts)  # a user tidies the channel mid-capture
    msg, _ = await summary_of(fake, timeout=10)  # before: dropped, never posted
    assert msg.ts != progress.ts and msg.thread_ts is None
    assert "Evidence saved" in msg.all_text
    await fake.wait_for(lambda: fake.replies("C1", msg.ts), 5, "details in its thread")
    await bot.idle()
    (row,) = await post_rows(bot.store)
    assert row.ts == msg.ts  # later updates (Capture again, retries) go to the new one


@pytest.mark.parametrize("mode", ["http", "socket"])
async def test_list_of_a_host_the_user_may_not_see_says_so_to_them_only(
        bot_factory, fake: FakeSlack, store: Store, mode: str) -> None:
    for _ in range(2):
        await seed(store, host="th1", group="payments")
    bot = await bot_factory(mode=mode, authz=[
        AuthzRule(channels=["*"], user_groups=["*"], groups=["db"])])
    await fake.command("list th1", user="U5", via=mode)
    await bot.idle()
    assert not fake.top_level(), "before: 'No snapshots of th1 yet' to the whole channel"
    (said,) = fake.ephemerals_for("U5")
    assert said.startswith("There are 2 snapshots of th1 you may not see. You may not "
                           "browse snapshots of group `payments` from this channel"), said
    (ev,) = await store.audit_events(action="refused")
    assert ev.detail["kind"] == "authz" and ev.target == "th1"


@pytest.mark.parametrize("mode", ["http", "socket"])
async def test_help_is_told_to_the_asker_only(bot, bot_factory, fake: FakeSlack,
                                              mode: str) -> None:
    if mode == "socket":
        bot = await bot_factory(mode=mode)
    await fake.command("help", user="U5", via=mode)
    await bot.idle()
    assert not fake.top_level(), "before: help posted to the whole channel"
    (said,) = fake.ephemerals_for("U5")
    assert "`/snapshot list [HOST]`" in said and "*hostsnap* captures" in said


@pytest.mark.parametrize("mode", ["http", "socket"])
async def test_suggestions_closest_first_and_one_full_stop(bot_factory, fake: FakeSlack,
                                                           mode: str) -> None:
    hosts = [HostEntry(name=n, address="127.0.0.1", port=1, group="g")
             for n in ("th3", "th2", "th1")]
    bot = await bot_factory(mode=mode, settings={"hosts": hosts})
    await fake.command("th11", user="U5", via=mode)
    await fake.command("watch th11", user="U5", via=mode)
    await bot.idle()
    # before: "did you mean th1, th3, th2?. Nothing was captured." (and "th2?." for watch)
    assert sorted(fake.ephemerals_for("U5")) == [
        "unknown host 'th11' — did you mean th1, th2, th3?",
        "unknown host 'th11' — did you mean th1, th2, th3? Nothing was captured."]
    assert not fake.top_level()


@pytest.mark.parametrize("mode", ["http", "socket"])
async def test_a_burst_of_fleet_commands_keeps_every_host_in_its_fleets_thread(
        bot_factory, fake: FakeSlack, tmp_path, mode: str) -> None:
    """20 `/snapshot @gN` of 3 hosts each at once, the channel paced at 2
    messages a second after a burst of 5: the fleet messages wait for their
    turn, the hosts' summaries wait for their fleet's message (before: after
    2 s they went to the top of the channel)."""
    # refused before any connection (no known_hosts file): fast, failed snapshots
    hosts = [HostEntry(name=f"h{g}-{i}", address="127.0.0.1", port=1, group=f"g{g}",
                       known_hosts=str(tmp_path / "none")) for g in range(20) for i in range(3)]
    bot = await bot_factory(mode=mode, post_interval=0.5, post_burst=5,
                            settings={"hosts": hosts})
    t0 = time.monotonic()
    acks = await asyncio.gather(*(fake.command(f"@g{g}", user=f"U{g}", via=mode)
                                  for g in range(20)))
    assert all(a.status == 200 for a in acks)

    def all_in() -> bool:
        return sum("— snapshot `" in m.all_text for m in fake.bot_messages()
                   if m.thread_ts is not None) == 60

    await fake.wait_for(all_in, 40, "60 host summaries in threads")
    await asyncio.wait_for(bot.idle(), 30)
    took = time.monotonic() - t0
    top = fake.top_level()
    assert len(top) <= 20, [m.text for m in top]
    for g in range(20):
        (parent,) = [m for m in top if f"(@g{g})" in m.all_text]
        thread = fake.replies("C1", parent.ts)
        assert sorted(n for i in range(3) for m in thread
                      if f"*h{g}-{i}* — snapshot" in m.all_text
                      for n in [f"h{g}-{i}"]) == [f"h{g}-{i}" for i in range(3)], g
        assert "is in the thread" not in parent.all_text or len(thread) >= 3
    rows = await post_rows(bot.store)
    assert len(rows) == 60 and all(r.thread_ts for r in rows)
    assert took < 40, took


@pytest.mark.parametrize("mode", ["http", "socket"])
async def test_the_same_fleet_command_in_a_burst_is_one_message(
        bot_factory, fake: FakeSlack, tmp_path, mode: str) -> None:
    """20 users type `/snapshot @web` at once: one fleet message with its 3
    hosts in its thread; the others are told it is already running (before:
    20 fleet messages and 60 host summaries)."""
    # an sshd that accepts and never sends its banner: each capture takes the
    # connect timeout (1 s), so the burst arrives while the first one runs
    silent = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    (tmp_path / "known_hosts").write_text("")
    hosts = [HostEntry(name=f"web-{i}", address="127.0.0.1", port=port, group="web",
                       known_hosts=str(tmp_path / "known_hosts")) for i in range(3)]
    bot = await bot_factory(mode=mode, settings={
        "hosts": hosts, "ssh": SSHSettings(retries=0, connect_timeout=1)})
    try:
        await asyncio.gather(*(fake.command("@web", user=f"U{u}", via=mode)
                               for u in range(20)))
        await asyncio.wait_for(bot.idle(), 30)
    finally:
        silent.close()
    (parent,) = fake.top_level()
    assert "3 hosts (@web)" in parent.all_text
    thread = fake.replies("C1", parent.ts)
    assert sorted(m.all_text.split("*")[1] for m in thread) == ["web-0", "web-1", "web-2"]
    told = [e["text"] for e in fake.ephemerals]
    assert len(told) == 19 and all(t.startswith("@web is already being captured here")
                                   for t in told), told
    # done: the same command again is a new capture
    await fake.command("@web", via=mode)
    await asyncio.wait_for(bot.idle(), 30)
    assert len(fake.top_level()) == 2
