"""Review (brief WR), in Chromium: signed in as one Slack user, a click on
another user's link in a page of another site (as in Slack) is refused, not a
silent switch to that user. (The session cookie is SameSite=Strict: a
cross-site click leaves it behind; the Lax holder cookie comes.)"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bot.app import App
from tests.web.browser.conftest import chromium, site_settings, start_pages
from tests.web.conftest import stored_snapshot

__all__ = ["chromium"]  # the browser fixture, used here


async def test_a_forwarded_link_clicked_from_another_site_is_refused(chromium: Any,
                                                                     tmp_path) -> None:
    settings = site_settings(f"sqlite+aiosqlite:///{tmp_path}/h.db")
    core = await App.open(settings)
    sid = await stored_snapshot(core.store)
    runner, url, state = await start_pages(core, settings.web)
    mine = f"{url}/s/{sid}?t={state.signer.link(sid, 'U1', 'C1', 600)}"
    theirs = f"{url}/s/{sid}?t={state.signer.link(sid, 'U2', 'C1', 600)}"

    async def chat(request: web.Request) -> web.Response:  # "Slack": another site
        return web.Response(content_type="text/html",
                            text=f'<a id="mine" href="{mine}">mine</a> '
                                 f'<a id="theirs" href="{theirs}">theirs</a>')

    other = web.Application()
    other.router.add_get("/", chat)
    chat_runner = web.AppRunner(other)
    await chat_runner.setup()
    await web.TCPSite(chat_runner, "127.0.0.1", 0).start()
    chat_url = f"http://localhost:{chat_runner.addresses[0][1]}/"  # not 127.0.0.1's site
    context = await chromium.new_context()
    try:
        page = await context.new_page()
        await page.goto(chat_url)
        await page.click("#mine")
        await page.wait_for_load_state("load")
        assert "Slack user U1" in await page.inner_text("header")
        await page.goto(chat_url)
        await page.click("#theirs")
        await page.wait_for_load_state("load")
        assert await page.title() == "This link is someone else's · hostsnap"
        assert "handed out to Slack user U2, and you are U1" in await page.inner_text("main")
    finally:
        await context.close()
        await chat_runner.cleanup()
        await runner.cleanup()
        await core.close()
