"""Slack command text as an adversary types it: the parser never lets a shell
character or anything but a host-name pattern through, and the running bot,
with no host it may capture, captures nothing and echoes nothing as markup."""

from __future__ import annotations

import random
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.inventory import TARGET_RE
from bot.slack.commands import CommandError, parse
from tests.fakeslack import FakeSlack
from tests.slack.conftest import bot_factory, db_url, fake, store  # noqa: F401  (fixtures)

SHELLISH = re.compile(r"[;&|`$<>(){}\\'\"!\n]")
PIECES = ["localhost", "web-03", "@payments", "*", "list", "show", "diff", "watch", "unwatch",
          "help", ";", "&&", "|", "`id`", "$(reboot)", "<!channel>", "<@UEVIL>",
          "<http://evil.example|click>", "&lt;script&gt;", "[bold]", "\x1b[2J", "\n", "\t",
          "k7m2qx9d", "../../etc/passwd", "'", '"', "\\", "é", "-rf", "--help", "\u202e"]
TRIED = {"parse": 0, "bot": 0}


@settings(max_examples=1000, deadline=None)
@given(text=st.one_of(st.text(max_size=80),
                      st.lists(st.sampled_from(PIECES), max_size=6).map(" ".join)))
def test_parse_lets_only_host_patterns_through(text: str) -> None:
    TRIED["parse"] += 1
    try:
        cmd = parse(text, max_hosts=10)
    except CommandError as e:
        assert str(e)  # a message for the user, never an empty refusal
        return
    if cmd.verb in ("capture", "watch", "unwatch", "list"):
        for word in cmd.args:
            assert TARGET_RE.match(word) and not SHELLISH.search(word), (text, cmd)


def _hostile(n: int) -> list[str]:
    rnd = random.Random(13)  # the same commands every run
    return [" ".join(rnd.choice(PIECES) for _ in range(rnd.randint(1, 5))) for _ in range(n)]


async def test_hostile_commands_capture_nothing_and_echo_no_markup(bot_factory,  # noqa: F811
                                                                   fake: FakeSlack) -> None:  # noqa: F811
    # no inventory and no localhost: there is nothing any text may capture
    bot = await bot_factory(settings={"allow_localhost": False})
    texts = _hostile(120)
    for text in texts:
        ack = await fake.command(text, user="UREQ")
        assert ack.status == 200, text
        TRIED["bot"] += 1
    await bot.idle()
    assert await bot.store.count_snapshots() == 0
    assert await bot.store.audit_events(action="capture") == []
    sent = [m.all_text for m in fake.bot_messages("C1")] + fake.ephemerals_for("UREQ")
    assert len(sent) >= len(texts) * 0.9  # (nearly) every command got its answer
    for said in sent:
        assert "<!channel>" not in said and "<@UEVIL>" not in said
        assert "<http://evil" not in said and "\x1b" not in said


def test_counts_reported() -> None:
    print(f"\nslack command text tried: {TRIED}")
    assert TRIED["parse"] >= 1000 and TRIED["bot"] == 120
