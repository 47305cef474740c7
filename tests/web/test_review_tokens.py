"""Review of the pages' links and sessions (brief WR): what an attacker sends
is a clear refusal, never a 500; what a person reads says what happened, when,
and what to do next."""

from __future__ import annotations

import html
import re

import pytest

from bot.access.links import Identity
from tests.web.conftest import ALICE, CHANNEL


def _message(body: str) -> str:
    m = re.search(r'<p class="message">(.*?)</p>', body, re.S)
    assert m, body[:500]
    return html.unescape(m.group(1))


@pytest.mark.parametrize("token", ["a.\u00e9", "\u00e9.\u00e9", "\u00e9", "a.\x00", ".", "a."])
async def test_odd_characters_in_a_link_are_a_refusal_not_a_crash(serve_pages, snapshot_id,
                                                                   token):
    pages = await serve_pages()
    r = await (await pages.client()).get(f"/s/{snapshot_id}", params={"t": token})
    body = await r.text()
    assert r.status == 401, body[:300]
    assert "This link is not valid" in _message(body)
    assert "Content-Security-Policy" in r.headers


@pytest.mark.parametrize("cookie", ["a.\u00e9", "\u00e9\u00e9.x", "x"])
async def test_odd_characters_in_the_session_cookie_are_a_refusal(serve_pages, snapshot_id,
                                                                 cookie):
    pages = await serve_pages()
    browser = await pages.client()
    r = await browser.get(f"/s/{snapshot_id}",
                          headers={"Cookie": f"hostsnap_session={cookie}"})
    body = await r.text()
    assert r.status == 401, body[:300]
    msg = _message(body)
    # it is the browser's session that is bad, not a link: say so, and how to sign in
    assert msg.startswith("This browser session is not valid") and "Open in browser" in msg
    assert "a restarted `hostsnap web`" in msg  # why a session made yesterday fails today


async def test_an_expired_link_says_when(serve_pages, snapshot_id):
    pages = await serve_pages()
    r = await (await pages.client()).get(pages.link(snapshot_id, ALICE, ttl=-3 * 3600 - 30))
    msg = _message(await r.text())
    assert r.status == 401
    assert re.search(r"has expired: 3 h ago, at \d{4}-\d\d-\d\d \d\d:\d\d UTC\.", msg), msg
    assert "click Open in browser on the snapshot's message in Slack" in msg


async def test_an_expired_session_says_when_and_how_to_sign_in(serve_pages, snapshot_id):
    pages = await serve_pages()
    browser = await pages.client()
    old = pages.signer.session(Identity(ALICE, CHANNEL, "link"), -120)
    r = await browser.get(f"/s/{snapshot_id}", headers={"Cookie": f"hostsnap_session={old}"})
    msg = _message(await r.text())
    assert r.status == 401
    assert re.search(r"This browser session has expired: 2 min ago, at .* UTC\. Open the "
                     r"page from Slack", msg), msg


async def test_a_link_for_another_snapshot_says_which_and_what_to_do(serve_pages, store,
                                                                      snapshot_id):
    from tests.web.conftest import stored_snapshot

    other = await stored_snapshot(store, host="web-04")
    pages = await serve_pages()
    token = pages.link(snapshot_id, ALICE).split("?t=")[1]
    r = await (await pages.client()).get(f"/s/{other}?t={token}")
    msg = _message(await r.text())
    assert r.status == 401
    assert f"another snapshot ({snapshot_id})" in msg and "open it as Slack gave it" in msg
