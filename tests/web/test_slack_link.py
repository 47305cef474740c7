"""Open in browser, end to end: `hostsnap serve` against the fake Slack (signed
requests), the button on summaries, each click answered privately with the
clicking user's own link, which opens the page on the bot's own server."""

from __future__ import annotations

import re

import aiohttp
import pytest

from bot.config import ConfigError, load_settings
from bot.settings.slack import AuthzRule
from bot.settings.web import WebSettings
from bot.slack.serve import ServeError, SlackService
from tests.slack.conftest import bot_factory, db_url, fake, make_settings, store, summary_of
from tests.web.conftest import ALICE, CHANNEL, EVE, rules, stored_snapshot

__all__ = ["bot_factory", "db_url", "fake", "store"]  # the Slack fixtures, used here

SECRET_ENV = "HOSTSNAP_TEST_WEB_SECRET"
LINK = re.compile(r"<(http://127\.0\.0\.1:9/s/([a-z0-9]{8})\?t=[^|>]+)\|")


def _web() -> dict:
    return {"web": WebSettings(base_url="http://127.0.0.1:9", secret_env=SECRET_ENV)}


def _labels(msg) -> list[str]:
    return [b["text"]["text"] for b in msg.buttons()]


@pytest.fixture(autouse=True)
def _secret(monkeypatch):
    monkeypatch.setenv(SECRET_ENV, "s" * 40)


async def test_open_in_browser_answers_each_user_with_their_own_link(bot_factory, fake, store):
    sid = await stored_snapshot(store)
    bot = await bot_factory(authz=rules(), settings=_web())
    await fake.command(f"show {sid}", user=ALICE, channel=CHANNEL)
    await bot.idle()
    (msg,) = fake.top_level()
    assert "Open in browser" in _labels(msg)
    assert "127.0.0.1:9" not in str(msg.blocks)  # the channel's message carries no link

    await fake.click(msg, "Open in browser", user=ALICE)
    await bot.idle()
    text = fake.ephemerals_for(ALICE)[-1]
    m = LINK.search(text)
    assert m and m.group(2) == sid, text
    assert "yours alone" in text and "24 h" in text
    url = m.group(1).replace("127.0.0.1:9", f"127.0.0.1:{bot.running.port}")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
        r = await browser.get(url)
        body = await r.text()
        assert r.status == 200, body
        assert "web-03" in body and f"Slack user {ALICE}" in body
        # the session it set opens the other pages of the bot's server
        assert (await browser.get(f"http://127.0.0.1:{bot.running.port}/")).status == 200
    # /healthz is still there, without the pages' headers
    async with aiohttp.ClientSession() as probe:
        h = await probe.get(f"http://127.0.0.1:{bot.running.port}/healthz")
        assert h.status == 200 and "Content-Security-Policy" not in h.headers

    # Eve may not see payments: refused privately, no link
    await fake.click(msg, "Open in browser", user=EVE)
    await bot.idle()
    (refusal,) = fake.ephemerals_for(EVE)
    assert refusal.startswith("You may not browse snapshots of group `payments`")
    assert "http" not in refusal
    asked = await store.audit_events(action="web_link")
    assert [(e.actor, e.snapshot_id) for e in asked] == [(f"slack:{ALICE}", sid)]


async def test_capture_summaries_carry_the_button(bot_factory, fake, store):
    bot = await bot_factory(settings=_web())  # everyone may do everything
    await fake.command("localhost")
    msg, sid = await summary_of(fake)
    await bot.idle()
    assert "Open in browser" in _labels(msg)
    await fake.click(msg, "Open in browser", user="U7")
    await bot.idle()
    assert LINK.search(fake.ephemerals_for("U7")[-1]).group(2) == sid


async def test_no_base_url_no_button(bot_factory, fake, store):
    sid = await stored_snapshot(store)
    bot = await bot_factory(authz=rules())
    await fake.command(f"show {sid}", user=ALICE, channel=CHANNEL)
    await bot.idle()
    (msg,) = fake.top_level()
    assert "Open in browser" not in _labels(msg) and "Raw files" in _labels(msg)
    async with aiohttp.ClientSession() as browser:  # and no pages on the server
        r = await browser.get(f"http://127.0.0.1:{bot.running.port}/s/{sid}")
        assert r.status == 404


async def test_a_missing_secret_stops_serve_naming_the_key(fake, store, db_url, monkeypatch):
    monkeypatch.delenv(SECRET_ENV)
    settings = make_settings(fake, db_url, settings=_web(), authz=[AuthzRule(
        groups=["*"], channels=["*"], user_groups=["*"])])
    with pytest.raises(ServeError, match=r"\[web\]\.secret_env: the environment variable "
                                         r"HOSTSNAP_TEST_WEB_SECRET is not set"):
        await SlackService(settings, store).start()
    monkeypatch.setenv(SECRET_ENV, "short")
    with pytest.raises(ServeError, match="at least 32"):
        await SlackService(settings, store).start()


def test_config_errors_name_the_key(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[web]\nbase_url = "https://hostsnap.example.com"\n')
    with pytest.raises(ConfigError, match=r"line 1: web: base_url is set but no secret signs "
                                          r"the links: set `secret_env`"):
        load_settings(cfg)
    cfg.write_text('[web]\nbase_url = "https://h.example"\nsecret_env = "X"\nuser_header = '
                   '"X-Forwarded-User"\n')
    with pytest.raises(ConfigError, match="`user_header` without `trusted_proxies`"):
        load_settings(cfg)
    cfg.write_text('[web]\ntrusted_proxy = ["10.0.0.1"]\n')
    with pytest.raises(ConfigError, match=r"unknown key `trusted_proxy` \(did you mean "
                                          r"`trusted_proxies`\?\)"):
        load_settings(cfg)
    cfg.write_text('[web]\ntrusted_proxies = ["10.0.0.300"]\n')
    with pytest.raises(ConfigError, match=r"line 2: web\.trusted_proxies: '10\.0\.0\.300' is not"):
        load_settings(cfg)
    cfg.write_text('[web]\nuser_map = { "a@x.org" = "alice" }\n')
    with pytest.raises(ConfigError, match="Slack user ids"):
        load_settings(cfg)
