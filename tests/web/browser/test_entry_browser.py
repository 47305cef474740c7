"""How people arrive, in Chromium: from Slack (a summary's Open in browser
button, answered privately with a signed link to the bot's own server) and
from `hostsnap web` (a real process printing a one-time URL)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sys
from pathlib import Path

import pytest

from bot.settings.slack import AuthzRule
from bot.settings.web import WebSettings
from bot.store.service import Store
from tests.fakeslack import FakeSlack
from tests.slack.conftest import bot_factory, db_url, fake, store
from tests.web.bigdumps import store_dumps
from tests.web.browser.conftest import CHANNEL, VIEWER, Tab, corpus_jvm

__all__ = ["bot_factory", "db_url", "fake", "store"]  # the Slack fixtures, used here

SECRET_ENV = "HOSTSNAP_BROWSER_TEST_WEB_SECRET"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_open_in_browser_from_a_slack_summary(bot_factory, fake: FakeSlack, store: Store,
                                                    tab: Tab, monkeypatch) -> None:
    monkeypatch.setenv(SECRET_ENV, "x" * 40)
    sid = await store_dumps(store, "web-03", "payments", threads=448,
                            jvm=[corpus_jvm("executor.2.jcmd")])
    # the pages on the bot's own HTTP server, at the address [web].base_url names
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    bot = await bot_factory(
        authz=[AuthzRule(groups=["payments"], channels=["*"], user_groups=[VIEWER])],
        settings={"web": WebSettings(base_url=base, secret_env=SECRET_ENV)}, http_port=port)
    await fake.command(f"show {sid}", user=VIEWER, channel=CHANNEL)
    await bot.idle()
    (summary,) = fake.top_level()
    await fake.click(summary, "Open in browser", user=VIEWER)
    await bot.idle()
    said = fake.ephemerals_for(VIEWER)[-1]
    m = re.search(rf"<({re.escape(base)}/s/{sid}\?t=[^|>]+)\|", said)
    assert m, said

    page = tab.page
    r = await page.goto(m.group(1))
    assert r is not None and r.status == 200
    assert "web-03" in await page.locator("h1").inner_text()
    assert f"Slack user {VIEWER}" in await page.locator("header").inner_text()
    assert "?t=" not in page.url  # the token left the address bar once used
    # on from there: the dump's explorer, a stack group opened
    async with page.expect_navigation():
        await page.locator(f"a[href^='/s/{sid}/dump/']").first.click()
    first = page.locator("details.group").first
    await first.locator("summary").click()
    await first.locator(".group-body pre.frames").wait_for()
    tab.assert_clean()


URL = re.compile(r"(http://127\.0\.0\.1:\d+/\S*\?t=\S+)")


async def test_hostsnap_web_one_time_url_in_the_browser(tmp_path: Path, tab: Tab) -> None:
    db = tmp_path / "hostsnap.db"
    store = await Store.open(f"sqlite+aiosqlite:///{db}")
    try:
        sid = await store_dumps(store, "web-03", "payments", threads=213,
                                jvm=[corpus_jvm("executor.1.jcmd")])
    finally:
        await store.close()
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'database_url = "sqlite:///{db}"\n')
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "import sys; sys.argv[0] = 'hostsnap'; "
        "from bot.entry import main; main()", "web", "--port", "0", sid,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "HOSTSNAP_CONFIG": str(cfg), "USER": "opsperson",
             "LOGNAME": "opsperson"})
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        m = URL.search(line)
        if m is None:
            err = (await proc.stderr.read()).decode() if proc.stderr else ""
            pytest.fail(f"hostsnap web printed no URL: {line!r} {err}")
        page = tab.page
        r = await page.goto(m.group(1))
        assert r is not None and r.status == 200
        assert "local operator opsperson" in await page.locator("header").inner_text()
        assert sid in await page.locator("h1").inner_text()
        # a reload (the token is out of the address bar) stays signed in
        assert (await page.reload()) is not None
        assert sid in await page.locator("h1").inner_text()
        tab.assert_clean()
        # the printed URL again, in another browser: used up
        other = await tab.context.browser.new_context()
        try:
            p2 = await other.new_page()
            r2 = await p2.goto(m.group(1))
            assert r2 is not None and r2.status == 401
            assert "already used" in await p2.inner_text("body")
        finally:
            await other.close()
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)  # our own child, by its pid
        assert await asyncio.wait_for(proc.wait(), 15) == 0
