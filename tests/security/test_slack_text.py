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
import re
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.alerts.payloads import Alert
from bot.render import slack as render
from bot.render import slack_alerts as messages
from bot.render.slack import Message, esc
from bot.render.slack_fleet import fleet_message, fleet_progress_message
from bot.render.slack_watch import watch_message
from bot.settings.alerts import Route
from bot.slack.api import _plain
from bot.store.views import ArtifactView, CollectorView, SnapshotView
from collectors.analysis.diff import DumpChange, NumberDelta, ProcessDelta, SnapshotDiff
from collectors.analysis.dumps import CountDelta, DumpDiff, GroupDelta
from collectors.analysis.findings import CodeBlock, Finding, Severity, TableBlock, TextBlock
from collectors.analysis.fleet import FleetSummary, HostRow, Standout
from tests.alerts.conftest import Replica, http, replicas  # noqa: F401 (fixtures)
from tests.alerts.senders import COLLECTORS, alert_settings, am_alert, am_payload
from tests.fakeslack import FakeSlack
from tests.fakeslack.server import check_blocks
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


# -- every Slack renderer, arbitrary text in every field ------------------------------
UREQ = "UREQ"  # the requester: the one mention the renderers mean
SECRET = "password=hunter2"
#: the markup a renderer writes on purpose: the requester's mention, the alert's link
MEANT = re.compile(r"<@UREQ>|<http://x/[^<>|\s]*\|alert source>")
data = st.lists(st.one_of(st.sampled_from([*MARKUP, "<!channel>", "<@U999>", ">", "&",
                                           "<http://evil|click>", "*bold*", "`", "```",
                                           f" {SECRET} ", "\x1b[2J", "\n", "[/x]"]),
                          st.text(max_size=8)), max_size=4).map("".join)
SLACK_COUNTS: Counter[str] = Counter()
WHEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _texts(node: Any) -> list[str]:
    """Every "text" string of a Block Kit structure, however deep."""
    if isinstance(node, list):
        return [t for n in node for t in _texts(n)]
    if isinstance(node, dict):
        return [t for k, v in node.items()
                for t in ([v] if k == "text" and isinstance(v, str) else _texts(v))]
    return []


def slack_check(name: str, *msgs: Message | str) -> None:
    """What Slack would receive (fallback text as api.py sends it): within
    Slack's limits, no markup but the meant one, the secret never."""
    SLACK_COUNTS[name] += 1
    for m in msgs:
        texts = [_plain(m)] if isinstance(m, str) else [_plain(m.text), *_texts(m.blocks)]
        if isinstance(m, Message):
            assert check_blocks(m.blocks) is None, m.blocks
        for t in texts:
            assert "<" not in MEANT.sub("", t), t
            assert "hunter2" not in t, t


def run_slack(test: Callable[[], None]) -> None:
    settings(max_examples=200, deadline=None, database=None,
             suppress_health_check=list(HealthCheck))(test)()


@st.composite
def snapshot_views(draw: st.DrawFn) -> SnapshotView:
    s = [draw(data) for _ in range(16)]
    f = Finding(rule=s[0], severity=Severity.CRITICAL, title=s[1], hint=s[2], subject=s[3],
                evidence=[TextBlock(text=s[4]), TableBlock(headers=[s[5]], rows=[[s[6]]]),
                          CodeBlock(text=s[7], title=s[8])])
    return SnapshotView(
        id="k7m2qx9d", host=s[9], status=draw(st.sampled_from(["complete", "failed",
                                                                "interrupted", s[10]])),
        trigger="slack", requested_by=UREQ, created_at=WHEN, error=s[11], headline=s[1],
        collectors=[CollectorView(name=s[12], status=s[13], error=s[14], warnings=[s[15]])],
        artifacts=[ArtifactView(name=s[12], collector="jvm", size=1, stored_size=1,
                                sha256="ab")], finding_list=[f] * draw(st.integers(1, 7)))


def test_snapshot_messages() -> None:
    @given(snapshot_views(), data)
    def prop(v: SnapshotView, s: str) -> None:
        slack_check("snapshot", render.summary_message(v, requested_by=UREQ),
                    *render.details_messages(v), render.failed_message(v.host, s),
                    render.list_message([v], v.host), render.list_message([], s),
                    render.progress_message(v.host, {s: s}, host_state=s, requested_by=UREQ),
                    render.snapshot_not_found(s), render.too_long_message(v, 9),
                    render.raw_files_message(v, 1, 0, [s]), render.details_text(v))

    run_slack(prop)
    assert SLACK_COUNTS["snapshot"] >= 200


def test_diff_fleet_watch_messages() -> None:
    @given(st.lists(data, min_size=8, max_size=8))
    def prop(s: list[str]) -> None:
        dd = DumpDiff(kind="jvm", total_before=1, total_after=2, delta=1, states=[],
                      pools=[CountDelta(name=s[0], before=1, after=2, delta=1)],
                      appeared=[GroupDelta(key="k", state=s[1], top_frame=s[2], before=0,
                                           after=1, delta=1)], vanished=[], changed=[])
        d = SnapshotDiff(older="k7m2qx9d", newer="k7m2qx9e", host_older=s[3], host_newer=s[4],
                         seconds_apart=3, numbers=[NumberDelta(name=s[5], before=1, after=2)],
                         processes=[ProcessDelta(pid=1, name=s[6], before=1, after=2)],
                         findings_new=[s[7]], findings_gone=[s[0]],
                         dumps=[DumpChange(subject=s[1], diff=dd)], notes=[s[2]])
        fleet = FleetSummary(rows=[HostRow(host=s[0], group=s[1], snapshot_id="k7m2qx9d",
                                           status=s[2], headline=s[3])],
                             standouts=[Standout(host=s[0], what="threads", text=s[4])])
        rows = [{"host": s[5], "connected": False, "shell": True, "up_s": None,
                 "reconnects": 1, "holders": ["slack:UREQ", "alert:x", s[6]],
                 "last_error": s[7]}]
        slack_check("diff/fleet/watch", render.diff_message(d),
                    fleet_progress_message(s[0], {s[1]: s[2]}, requested_by=UREQ),
                    fleet_message(s[3], fleet, {s[4]: s[5]}, requested_by=UREQ),
                    watch_message(rows, title=s[6]))  # note: mrkdwn the caller writes

    run_slack(prop)
    assert SLACK_COUNTS["diff/fleet/watch"] >= 200


def test_alert_messages() -> None:
    @given(st.lists(data, min_size=10, max_size=10),
           st.from_regex(r"[A-Za-z0-9]{6,12}", fullmatch=True))
    def prop(s: list[str], pw: str) -> None:
        a = Alert(receiver=s[0], status="firing", fingerprint="f", starts_raw="t",
                  starts_at=WHEN, ends_at=None, url="http://x/" + s[1],
                  labels={"alertname": s[2], "severity": s[3], s[4]: s[5], "db_password": pw},
                  annotations={"summary": s[7]}, values=s[8])
        slack_check("alerts", messages.fired(a, s[9], s[0]), messages.resolved(a, s[9], WHEN),
                    messages.progress(a, s[9], {s[1]: s[2]}, host_state=s[3]))
        shown = messages.fired(a, "h", "r").blocks[1]["elements"][0]["text"]
        assert "`db_password=[REDACTED]`" in shown  # a label named so: its value never shown

    run_slack(prop)
    assert SLACK_COUNTS["alerts"] >= 200
    print(f"{dict(SLACK_COUNTS)} generated inputs rendered for Slack, none crashed")
