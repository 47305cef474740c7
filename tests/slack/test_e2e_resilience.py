"""When Slack or the bot misbehaves: 429s, Slack unreachable during a
capture, the bot stopped or killed in the middle of one."""

from __future__ import annotations

import asyncio
import os
import sys
import time

import pytest
from sqlalchemy import select

from bot.config import HostEntry, SSHSettings
from bot.slack.posts import DELIVERING, DONE, PENDING
from bot.store.models import SlackPostRow
from collectors import registry
from tests.fakeslack import FakeSlack
from tests.slack.conftest import make_settings, summary_of
from tests.slack.slowbot import SlowCollector


async def post_rows(store) -> list[SlackPostRow]:
    async with store.sessions() as s:
        return list((await s.scalars(select(SlackPostRow))).all())


async def test_rate_limited_calls_wait_for_retry_after(bot, fake: FakeSlack) -> None:
    fake.rate_limit("chat.postMessage", times=1, retry_after=1)
    await fake.command("localhost")
    msg, _ = await summary_of(fake)
    await bot.idle()
    (limited,) = fake.calls_of("chat.postMessage", status=429)
    first_ok = fake.calls_of("chat.postMessage")[0]
    assert first_ok.at - limited.at >= 1.0  # Retry-After honoured
    assert fake.top_level() == [msg]  # retried, not duplicated
    assert "Evidence saved" in msg.all_text


async def test_slack_down_during_capture_posts_when_back(bot, fake: FakeSlack) -> None:
    fake.outage(True)
    ack = await fake.command("localhost")  # Slack delivers the command, then goes away
    assert ack.status == 200
    await bot.idle()
    assert not fake.messages
    (row,) = await post_rows(bot.store)
    # waiting for Slack (the retry loop may be trying it right now)
    assert row.state in (PENDING, DELIVERING) and row.ts is None and row.last_error
    view = await bot.store.get_snapshot(row.snapshot_id)
    assert view.status == "complete"  # the evidence is saved regardless

    fake.outage(False)
    msg, sid = await summary_of(fake, timeout=10)  # the retry loop delivers it
    assert sid == view.id
    assert "Evidence saved — safe to restart." in msg.all_text
    await fake.wait_for(lambda: fake.replies("C1", msg.ts), 5, "details in the thread")
    await bot.idle()
    for _ in range(100):  # the retry loop marks it delivered right after posting
        (row,) = await post_rows(bot.store)
        if row.state == DONE:
            break
        await asyncio.sleep(0.05)
    assert (row.state, row.ts, row.details_posted) == (DONE, msg.ts, True)


async def test_slack_down_mid_capture_updates_the_message_later(
        bot_factory, fake: FakeSlack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry.COLLECTORS, "slow", SlowCollector)
    monkeypatch.setenv("SLOW_SECONDS", "1.0")
    bot = await bot_factory(collectors=["limits", "slow"])
    await fake.command("localhost")
    progress = await fake.wait_for(lambda: fake.top_level(), 5, "progress message")
    fake.outage(True)  # after the progress message went out
    await bot.idle()
    assert "Capturing localhost" in progress[0].text
    fake.outage(False)
    msg, _ = await summary_of(fake, timeout=10)
    assert msg.ts == progress[0].ts  # the same message, updated: not a second one
    assert len(fake.top_level()) == 1


async def test_stopped_mid_capture_says_interrupted(bot_factory, fake: FakeSlack,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry.COLLECTORS, "slow", SlowCollector)
    bot = await bot_factory(collectors=["limits", "slow"], stop_grace=0.2)
    await fake.command("localhost")
    await fake.wait_for(lambda: any("limits ok" in m.all_text for m in fake.top_level()),
                        5, "progress showing limits ok")
    await bot.stop()
    (msg,) = fake.top_level()
    assert "The capture of *localhost* was interrupted (capture cancelled)" in msg.all_text
    # limits finished before the stop, slow never did: named, and not "safe" (issue 16)
    assert "missing: slow — never reported: the capture was interrupted" in msg.all_text
    assert "safe to restart" not in msg.all_text
    (row,) = await post_rows(bot.store)
    assert row.state == DONE
    assert (await bot.store.get_snapshot(row.snapshot_id)).status == "interrupted"


async def test_stopped_mid_fleet_capture_the_channel_message_says_so(
        bot_factory, fake: FakeSlack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry.COLLECTORS, "slow", SlowCollector)
    dead = HostEntry(name="dead-01", address="127.0.0.1", port=1, group="dead")
    bot = await bot_factory(collectors=["limits", "slow"], stop_grace=0.2,
                            settings={"hosts": [dead],
                                      "ssh": SSHSettings(retries=0, connect_timeout=2)})
    await fake.command("localhost dead-01")
    (parent,) = await fake.wait_for(lambda: fake.top_level() or None, 5, "the fleet message")
    await fake.wait_for(lambda: any("limits ok" in m.all_text
                                    for m in fake.replies("C1", parent.ts)), 5,
                        "localhost's progress in the thread")
    await summary_of(fake, host="dead-01", thread_ts=parent.ts)
    await bot.stop()
    assert fake.top_level() == [parent]
    t = parent.all_text
    assert "Capture of 2 hosts (localhost dead-01) interrupted: hostsnap stopped" in t
    assert ":octagonal_sign: localhost" in t and ":x: dead-01" in t
    local, _ = await summary_of(fake, host="localhost", thread_ts=parent.ts)
    assert "The capture of *localhost* was interrupted" in local.all_text


async def test_slack_down_when_a_fleet_ends_its_summary_comes_later(
        bot_factory, fake: FakeSlack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry.COLLECTORS, "slow", SlowCollector)
    monkeypatch.setenv("SLOW_SECONDS", "1.0")
    dead = HostEntry(name="dead-01", address="127.0.0.1", port=1, group="dead")
    bot = await bot_factory(collectors=["limits", "slow"], settings={
        "hosts": [dead], "ssh": SSHSettings(retries=0, connect_timeout=2)})
    await fake.command("localhost dead-01")
    (parent,) = await fake.wait_for(lambda: fake.top_level() or None, 5, "the fleet message")
    api = bot.running.bot.api
    tried: list[str] = []
    real_update = api.update

    async def update(channel, ts, msg):  # type: ignore[no-untyped-def]
        tried.append(msg.text)
        return await real_update(channel, ts, msg)

    monkeypatch.setattr(api, "update", update)
    fake.outage(True)  # the captures end while Slack is away
    await fake.wait_for(lambda: any("1 saved" in t for t in tried), 20,
                        "an attempt at the fleet summary")
    await asyncio.sleep(3.0)  # longer than the Slack client's own retry
    assert "saved" not in parent.all_text  # it failed
    fake.outage(False)
    await fake.wait_for(lambda: "2 hosts (localhost dead-01)* — 1 saved" in parent.all_text,
                        10, "the fleet summary, once Slack is back")
    await bot.idle()
    assert fake.top_level() == [parent]


async def test_killed_mid_capture_next_start_says_interrupted(
        bot_factory, fake: FakeSlack, db_url: str, store) -> None:
    settings = make_settings(fake, db_url, collectors=["limits", "slow"])
    env = {**os.environ, "SLOWBOT_SETTINGS": settings.model_dump_json()}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.slack.slowbot", env=env,
        stdout=asyncio.subprocess.PIPE, cwd=os.getcwd())
    try:
        assert proc.stdout is not None
        port = int((await asyncio.wait_for(proc.stdout.readline(), 30)).strip())
        fake.events_url = f"http://127.0.0.1:{port}/slack/events"
        await fake.command("localhost")
        await fake.wait_for(lambda: any("limits ok" in m.all_text for m in fake.top_level()),
                            10, "progress showing limits ok")
    finally:
        proc.kill()  # SIGKILL: no cleanup of any kind
        await proc.wait()
    (row,) = await post_rows(store)
    assert (await store.get_snapshot(row.snapshot_id)).status == "running"

    t0 = time.monotonic()
    await bot_factory()  # a new process would do the same at start-up
    (msg,) = fake.top_level()
    await fake.wait_for(lambda: "interrupted" in msg.all_text, 5, "message updated")
    assert time.monotonic() - t0 < 5
    assert "capture interrupted (hostsnap restarted); evidence saved before that is kept" \
        in msg.all_text
    # `slow` never reported: named as missing, and no "safe to restart" (issue 16)
    assert "missing: slow — never reported: the capture was interrupted" in msg.all_text
    assert "safe to restart" not in msg.all_text
    assert "capture again: `/snapshot localhost`" in msg.all_text
    assert (await store.get_snapshot(row.snapshot_id)).status == "interrupted"


async def test_two_requests_for_one_host_share_one_capture(
        bot_factory, fake: FakeSlack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry.COLLECTORS, "slow", SlowCollector)
    monkeypatch.setenv("SLOW_SECONDS", "0.5")
    bot = await bot_factory(collectors=["limits", "slow"])
    await asyncio.gather(fake.command("localhost", user="U1", channel="C1"),
                         fake.command("localhost", user="U2", channel="C2"))
    first, sid1 = await summary_of(fake, channel="C1")
    second, sid2 = await summary_of(fake, channel="C2")
    await bot.idle()
    assert sid1 == sid2  # joined the capture already running: one snapshot
    assert await bot.store.count_snapshots() == 1
    for m in (first, second):
        assert "Evidence saved — safe to restart." in m.all_text


async def test_a_refused_post_does_not_hold_up_the_others(bot_factory,
                                                           fake: FakeSlack) -> None:
    bot = await bot_factory(retry_interval=3600)  # passes run by hand below
    fake.outage(True)
    await fake.command("localhost", channel="CGONE")
    await bot.idle()
    await fake.command("localhost", channel="C1")
    await bot.idle()
    fake.outage(False)
    fake.not_in_channels.add("CGONE")  # the bot was removed from there meanwhile
    assert await bot.running.bot.delivery.retry_pending() == 1
    await summary_of(fake, channel="C1")
    rows = await post_rows(bot.store)
    assert [(r.channel, r.state) for r in rows] == [("CGONE", DONE), ("C1", DONE)]
    assert "not_in_channel" in (rows[0].last_error or "")
