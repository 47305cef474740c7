"""End to end, HTTP mode: a signed /snapshot in, Slack messages out, through
the fake Slack; the bot runs as `hostsnap serve --mode http` runs it."""

from __future__ import annotations

import asyncio
import itertools
import time

from sqlalchemy import select

from bot.config import HostEntry, SSHSettings
from bot.slack.posts import DONE
from bot.store.models import SlackPostRow
from tests.fakeslack import FakeSlack
from tests.slack.conftest import HOST_COLLECTORS, summary_of


async def test_snapshot_localhost_progress_summary_and_thread(bot, fake: FakeSlack) -> None:
    t0 = time.monotonic()
    ack = await fake.command("localhost", user="U1", channel="C1")
    assert ack.status == 200
    assert ack.elapsed < 1.0  # acked long before the capture ends

    msg, sid = await summary_of(fake)
    took = time.monotonic() - t0
    await bot.idle()

    # one top-level message: first the progress, then the summary in its place
    assert [m.ts for m in fake.top_level()] == [msg.ts]
    first = msg.history[0] if msg.history else {"text": msg.text}
    assert first["text"] == "Capturing localhost — hold the restart"
    shown = "".join(h["text"] for h in msg.history) + msg.text
    assert "Capturing localhost" in shown
    updates = fake.calls_of("chat.update")
    # coalesced: never more than one update per interval (0.3 s here) per message
    gaps = [b.at - a.at for a, b in itertools.pairwise(updates)]
    assert all(g >= 0.25 for g in gaps), gaps
    assert len(updates) <= 1 + took / 0.25

    t = msg.all_text
    assert f"*localhost* — snapshot `{sid}` · complete" in t
    assert "Evidence saved — safe to restart." in t
    assert "requested by <@U1>" in t
    assert [b["text"]["text"] for b in msg.buttons()] == [
        "Details", "Capture again", "Compare with previous", "Raw files"]
    assert all(b["value"] == sid for b in msg.buttons())

    # details in the thread: every collector with its status
    replies = fake.replies("C1", msg.ts)
    assert replies, "details were not posted in the thread"
    detail = "\n".join(r.all_text for r in replies)
    assert f"Details of snapshot `{sid}`" in detail
    for name in HOST_COLLECTORS:
        assert f"*{name}* ok" in detail

    # stored and audited; the post is recorded as delivered
    view = await bot.store.get_snapshot(sid)
    assert view.status == "complete" and view.trigger == "slack"
    assert view.requested_by == "slack:U1"
    actions = [a.action for a in await bot.store.audit_events(limit=20)]
    assert "slack_capture" in actions and "capture" in actions
    async with bot.store.sessions() as s:
        row = (await s.scalars(select(SlackPostRow))).one()
    assert (row.snapshot_id, row.channel, row.ts, row.state, row.details_posted) == (
        sid, "C1", msg.ts, DONE, True)
    assert not fake.ephemerals


async def test_signature_is_checked(bot, fake: FakeSlack) -> None:
    bad = await fake.command("localhost", secret="not-the-secret")
    assert bad.status == 401
    stale = await fake.command("localhost", timestamp=int(time.time()) - 3600)
    assert stale.status == 401
    await bot.idle()
    assert not fake.bot_messages() and not fake.ephemerals
    assert await bot.store.count_snapshots() == 0


async def test_help_and_empty_command(bot, fake: FakeSlack) -> None:
    await fake.command("help")
    await bot.idle()
    assert not fake.top_level()  # told to the asker only (issue 16)
    (m,) = fake.ephemerals_for("U1")
    assert "`/snapshot list [HOST]`" in m
    assert "`@hostsnap show ID`" in m


async def test_metrics_and_health(bot, fake: FakeSlack) -> None:
    await fake.command("help")
    await bot.idle()
    session = fake._session
    assert session is not None
    port = bot.running.port
    async with session.get(f"http://127.0.0.1:{port}/healthz") as r:
        assert r.status == 200 and (await r.json())["ok"] is True
    async with session.get(f"http://127.0.0.1:{port}/metrics") as r:
        body = await r.text()
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert 'hostsnap_slack_requests_total{kind="command"} 1' in body
    assert 'hostsnap_slack_ack_seconds_count{mode="http"} 1' in body
    assert 'hostsnap_slack_api_calls_total{method="chat.postEphemeral",outcome="ok"} 1' in body
    await bot.store.engine.dispose()  # the next request opens a fresh connection: still ok
    async with session.get(f"http://127.0.0.1:{port}/healthz") as r:
        assert r.status == 200


async def test_several_hosts_one_channel_message_and_a_thread(bot_factory, fake: FakeSlack,
                                                             tmp_path) -> None:
    """`/snapshot localhost dead-01`: one message in the channel follows both
    captures and ends with the fleet table (the unreachable host's row says
    why); each host's own summary, with its buttons, is in that thread."""
    # no known_hosts file for it: refused before any connection, whatever this machine has
    dead = HostEntry(name="dead-01", address="127.0.0.1", port=1, group="dead",
                     known_hosts=str(tmp_path / "no_known_hosts"))
    bot = await bot_factory(settings={"hosts": [dead],
                                      "ssh": SSHSettings(retries=0, connect_timeout=2)})
    ack = await fake.command("localhost dead-01", channel="C1")
    assert ack.status == 200 and ack.elapsed < 1.0

    def fleet_done():
        top = fake.top_level("C1")
        return top[0] if len(top) == 1 and "2 hosts (localhost dead-01)" in top[0].text \
            and "saved" in top[0].text else None

    parent = await fake.wait_for(fleet_done, 20, "the fleet summary")
    await bot.idle()
    assert len(fake.top_level("C1")) == 1  # the channel gets one message, not one per host
    first = parent.history[0]["text"] if parent.history else parent.text
    assert first == "Capturing 2 hosts (localhost dead-01) — hold the restarts"
    t = parent.all_text
    assert "*2 hosts (localhost dead-01)* — 1 saved, 1 not" in t
    local, sid = await summary_of(fake, host="localhost", channel="C1", thread_ts=parent.ts)
    failed, bad_sid = await summary_of(fake, host="dead-01", channel="C1",
                                       thread_ts=parent.ts)
    assert "Evidence saved — safe to restart." in local.all_text
    assert [b["text"]["text"] for b in local.buttons()][:2] == ["Details", "Capture again"]
    bad = failed.all_text
    assert f"*dead-01* — snapshot `{bad_sid}` · failed" in bad
    assert "Could not capture *dead-01*:" in bad and "Nothing was saved" in bad
    assert "safe to restart" not in bad
    assert (await bot.store.get_snapshot(bad_sid)).status == "failed" and sid != bad_sid
    # the table: the saved host with its snapshot id, the other with the reason
    row = next(line for line in t.splitlines() if line.startswith("localhost"))
    assert " complete " in row and sid in row
    row = next(line for line in t.splitlines() if line.startswith("dead-01"))
    assert " failed " in row and bad_sid in row and "no known_hosts file at" in row
    # the thread holds the two summaries only: details come with the button
    assert len(fake.replies("C1", parent.ts)) == 2
    await fake.click(local, "Details")
    await bot.idle()
    assert len(fake.replies("C1", parent.ts)) > 2


async def test_several_hosts_when_slack_is_down_at_first(bot_factory,
                                                        fake: FakeSlack) -> None:
    """The channel message cannot be posted at first: the hosts' summaries wait
    for it (queued in slack_posts), then go in its thread; nothing is lost and
    nothing lands at the top of the channel."""
    dead = HostEntry(name="dead-01", address="127.0.0.1", port=1, group="dead")
    bot = await bot_factory(settings={"hosts": [dead],
                                      "ssh": SSHSettings(retries=0, connect_timeout=2)})
    fake.outage(True)
    await fake.command("localhost dead-01", channel="C1")
    await fake.wait_for(lambda: fake.calls_of("chat.postMessage", status=0), 5,
                        "a dropped post")
    await asyncio.sleep(2.5)  # before: past the 2 s wait, the hosts went to the top
    fake.outage(False)
    # the fleet table arrives once Slack is back, then the hosts in its thread
    await fake.wait_for(lambda: any("2 hosts (localhost dead-01)* — 1 saved" in m.all_text
                                    for m in fake.top_level("C1")), 15, "the fleet summary")
    (parent,) = fake.top_level("C1")
    msg, sid = await summary_of(fake, host="localhost", channel="C1", thread_ts=parent.ts,
                                timeout=30)
    await summary_of(fake, host="dead-01", channel="C1", thread_ts=parent.ts, timeout=30)
    await bot.idle()
    assert fake.top_level("C1") == [parent]
    assert "Evidence saved — safe to restart." in msg.all_text
    assert (await bot.store.get_snapshot(sid)).status == "complete"
