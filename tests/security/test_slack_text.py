"""Data is shown as text in Slack too (issue 13): an alert whose name, summary
and labels hold `<!channel>`, `<@U999>`, `<http://evil|click>` and secrets is
captured end to end through the fake Slack, and every payload the bot sent —
blocks and the fallback `text` of every post and update, ephemerals, uploads —
carries them escaped (`&lt;!channel&gt;`) and redacted, never as a mention, a
link or the secret. Explanations echoing what the user typed are redacted and
never hand back a mention.
"""

from __future__ import annotations

import json
from typing import Any

from bot.alerts.settings import Route
from bot.render.slack import esc
from tests.alerts.conftest import Replica, http, replicas  # noqa: F401 (fixtures)
from tests.alerts.senders import COLLECTORS, alert_settings, am_alert, am_payload
from tests.fakeslack import FakeSlack
from tests.slack.conftest import db_url, fake, summary_of  # noqa: F401 (fixtures)

SECRETS = ["hunter2", "s3cr3t-label", "abcdefghijklmnop1234", "xoxb-1234-5678-abcdefghij"]
MARKUP = ["<!channel", "<!here", "<@U999", "<http://evil", "<!subteam"]
NAME = "Evil<!channel><@U999><http://evil|click>*bold*&x"


def _sent(slack: FakeSlack) -> str:
    """Every argument of every Web API call the bot made, as one string."""
    return json.dumps([c.args for c in slack.calls], ensure_ascii=False)


def _assert_clean(sent: str) -> None:
    for m in MARKUP:
        assert m not in sent, (m, sent)
    for s in SECRETS:
        assert s not in sent, (s, sent)


async def test_hostile_alert_reaches_slack_escaped_and_redacted(
        replicas, fake: FakeSlack) -> None:  # noqa: F811
    bot: Replica = await replicas(alert_settings(routes=[
        Route(name="all<!here>", collectors=COLLECTORS, channel="CINC")]))
    alert = am_alert(NAME, instance="localhost:9100", note="<!here> password=hunter2",
                     password="s3cr3t-label", team="<!subteam^S1|@sre>")
    alert["annotations"]["summary"] = (
        "<!channel> login failed: password=hunter2, Authorization: Bearer "
        "abcdefghijklmnop1234 <http://evil|click> *bold* token xoxb-1234-5678-abcdefghij")
    r = await bot.send.am(am_payload(alert))
    assert r.outcomes == ["capturing"], r.body

    msg, _ = await summary_of(fake, host="localhost", channel="CINC")

    def fired() -> Any:
        return next((m for m in fake.replies("CINC", msg.ts) if "firing on" in m.all_text),
                    None)

    why = await fake.wait_for(fired, 15, "the alert's reply")
    await bot.idle()

    # what a user reads: the text as written, escaped, secrets masked
    shown = esc(NAME)
    assert shown == "Evil&lt;!channel&gt;&lt;@U999&gt;&lt;http://evil|click&gt;*bold*&amp;x"
    assert f"*{shown}* firing on *localhost*" in why.all_text
    assert why.text == f"{shown} firing on localhost"  # the fallback text, escaped too
    assert "> &lt;!channel&gt; login failed: password=[REDACTED]," in why.all_text
    assert "`note=&lt;!here&gt; password=[REDACTED]`" in why.all_text
    assert "`password=[REDACTED]`" in why.all_text
    assert "`team=&lt;!subteam^S1|@sre&gt;`" in why.all_text
    assert "route all&lt;!here&gt;" in why.all_text
    progress = msg.history[0] if msg.history else {"blocks": msg.blocks}
    assert f"alert *{shown}*" in json.dumps(progress["blocks"], ensure_ascii=False)
    # ... and nothing the bot sent anywhere holds the markup or a secret
    assert len(fake.calls_of("chat.postMessage")) >= 3
    _assert_clean(_sent(fake))


async def test_refusals_echoing_typed_text(replicas, fake: FakeSlack) -> None:  # noqa: F811
    """What the user typed comes back in the explanation: redacted; a mention
    or a link in it never comes back as one."""
    bot: Replica = await replicas()
    for typed in ("token=hunter2", "web-01 <!channel> <@U999>",
                  "&lt;!channel&gt; &lt;http://evil|click&gt;"):
        await fake.command(typed, user="U1", channel="C1")
        await bot.idle()
    first, second, third = fake.ephemerals_for("U1")
    assert first.startswith("`token=[REDACTED]") and "is not a host name" in first
    assert "web-01" in second  # the mentions Slack wrapped were dropped, not echoed
    assert "looks like a shell command" in third
    _assert_clean(_sent(fake))
