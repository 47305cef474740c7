"""What people type after /snapshot or @hostsnap: strict, and clear when wrong."""

from __future__ import annotations

import pytest

from bot.slack.commands import Command, CommandError, parse


def p(text: str, max_hosts: int = 5) -> Command:
    return parse(text, max_hosts=max_hosts)


def test_verbs() -> None:
    assert p("web-03") == Command("capture", ["web-03"])
    assert p("web-03 web-04 @payments 'web-*'".replace("'", "")) == Command(
        "capture", ["web-03", "web-04", "@payments", "web-*"])
    assert p("capture web-03") == Command("capture", ["web-03"])
    assert p("list") == Command("list", [])
    assert p("LIST web-03") == Command("list", ["web-03"])
    assert p("show K7M2QX9D") == Command("show", ["k7m2qx9d"])
    assert p("diff k7m2 x9d4") == Command("diff", ["k7m2", "x9d4"])
    assert p("diff k7m2qx9d") == Command("diff", ["k7m2qx9d"])
    assert p("help") == Command("help")
    assert p("") == Command("help")
    assert p("web-03 web-03") == Command("capture", ["web-03"])


def test_mentions_and_slack_links_are_unwrapped() -> None:
    assert p("<@UHOSTSNAP> show k7m2qx9d") == Command("show", ["k7m2qx9d"])
    # Slack turns a dotted host name into a link; the label is what was typed
    assert p("<http://web-03.example.com|web-03.example.com>") == Command(
        "capture", ["web-03.example.com"])
    assert p("<!subteam^S123|@sre> list") == Command("list", [])


@pytest.mark.parametrize("text", [
    "web-01; rm -rf /", "web-01 && reboot", "$(reboot)", "`reboot`", "web-01 | sh",
    "web-01 > /etc/passwd", "web-$(id)", "web-01\nrm -rf /", "${IFS}", "'web-01'",
])
def test_shell_injection_is_refused_plainly(text: str) -> None:
    with pytest.raises(CommandError, match="looks like a shell command"):
        p(text)


def test_bad_host_words() -> None:
    with pytest.raises(CommandError, match="not a host name"):
        p("web%01")
    with pytest.raises(CommandError, match="at most 3"):
        p("a b c d", max_hosts=3)
    with pytest.raises(CommandError, match="at most one host"):
        p("list a b")


@pytest.mark.parametrize("text", ["show 0000", "show abc", "show k7m2qx9dk", "show lolo",
                                  "diff k7m2qx9d x", "show"])
def test_malformed_ids(text: str) -> None:
    with pytest.raises(CommandError, match="snapshot id"):
        p(text)


def test_diff_arity() -> None:
    with pytest.raises(CommandError, match="two snapshot ids"):
        p("diff a2b3 c4d5 e6f7")


def test_watch_verbs() -> None:
    assert p("watch") == Command("watch", [])
    assert p("watch web-03 @payments") == Command("watch", ["web-03", "@payments"])
    assert p("unwatch web-03") == Command("unwatch", ["web-03"])
    with pytest.raises(CommandError, match="Name the hosts to stop keeping warm"):
        p("unwatch")
    with pytest.raises(CommandError, match="not a host name"):
        p("watch web-03;reboot".replace(";", "%"))
