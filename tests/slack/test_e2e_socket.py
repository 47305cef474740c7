"""Socket Mode (the default of `hostsnap serve`): the same flows, with Slack's
envelopes over the fake's websocket instead of signed HTTP requests."""

from __future__ import annotations

from tests.fakeslack import FakeSlack
from tests.slack.conftest import summary_of


async def test_command_button_and_mention_over_the_socket(bot_factory,
                                                          fake: FakeSlack) -> None:
    bot = await bot_factory(mode="socket")
    # the bot opened the connection itself: apps.connections.open with the app token
    assert fake.calls_of("apps.connections.open")
    assert bot.fake.events_url is not None  # /slack/events is not served in this mode

    ack = await fake.command("localhost", via="socket")
    assert ack.elapsed < 1.0
    msg, sid = await summary_of(fake)
    await bot.idle()
    assert "Evidence saved — safe to restart." in msg.all_text

    await fake.click(msg, "Details", via="socket")
    await bot.idle()
    assert f"Details of snapshot `{sid}`" in fake.replies("C1", msg.ts)[-1].all_text

    _, said = await fake.mention(f"show {sid}", thread_ts=msg.ts, via="socket")
    await bot.idle()
    mine = [m for m in fake.replies("C1", msg.ts) if m.ts > said.ts]
    assert f"*localhost* — snapshot `{sid}`" in mine[0].all_text
    await fake.redeliver(fake.events[-1], retry_num=1, via="socket")  # Slack retrying
    await bot.idle()
    assert [m for m in fake.replies("C1", msg.ts) if m.ts > said.ts] == mine

    ack = await fake.command("show nope", via="socket")
    await bot.idle()
    assert "`nope` is not a snapshot id" in fake.ephemerals_for("U1")[-1]


async def test_http_endpoint_is_not_served_in_socket_mode(bot_factory,
                                                          fake: FakeSlack) -> None:
    await bot_factory(mode="socket")
    ack = await fake.command("localhost")  # over HTTP, signed: nobody listens there
    assert ack.status == 404
