"""Review (brief WR): the pages behind a proxy that serves them under a path
(base_url https://example.com/hostsnap/): the link from Slack and every link
in every page still work, whether the proxy strips the path or not."""

from __future__ import annotations

import re

import pytest

from bot.access.links import Signer, link_url
from bot.settings.web import WebSettings
from tests.web.conftest import ALICE, CHANNEL, SECRET, stored_snapshot

LOCAL = re.compile(r'\s(?:href|src|action|data-src)="(/[^"]*)"')


def test_a_trailing_slash_or_a_path_in_base_url_makes_right_links():
    s = WebSettings(base_url="https://ops.example.com/hostsnap/", secret_env="X")
    assert s.prefix == "/hostsnap"
    url = link_url(s.base_url or "", Signer(SECRET), "abcd1234", ALICE, CHANNEL, 60)
    assert url.startswith("https://ops.example.com/hostsnap/s/abcd1234?t=")
    assert WebSettings(base_url="https://ops.example.com/", secret_env="X").prefix == ""


@pytest.mark.parametrize("strips", [True, False], ids=["proxy-strips-path", "proxy-keeps-path"])
async def test_every_link_of_the_pages_works_under_a_path(serve_pages, store, strips):
    sid = await stored_snapshot(store)
    older = await stored_snapshot(store)
    pages = await serve_pages(base_url="http://127.0.0.1/hostsnap/")
    browser = await pages.client()

    def server_path(browser_path: str) -> str:
        """What the proxy passes on for what the browser asks."""
        assert browser_path.startswith("/hostsnap/"), browser_path  # else the proxy never sees it
        return browser_path.removeprefix("/hostsnap") if strips else browser_path

    token = pages.signer.link(sid, ALICE, CHANNEL, 60)
    r = await browser.get(server_path(f"/hostsnap/s/{sid}?t={token}"))
    assert r.status == 200, await r.text()
    cookie = r.headers["Set-Cookie"]
    assert "; Path=/hostsnap;" in cookie
    # as a browser sends it for /hostsnap/... (the test client's jar sees the server's paths)
    session = {"Cookie": cookie.split(";")[0]}
    browser.session.cookie_jar.clear()
    seen: set[str] = set()
    todo = [f"/hostsnap/s/{sid}", f"/hostsnap/compare/{older}/{sid}", "/hostsnap/alerts"]
    while todo and len(seen) < 60:  # bounded: the pages of two snapshots
        path = todo.pop()
        if path in seen or "download=1" in path:
            continue
        seen.add(path)
        r = await browser.get(server_path(path), headers=session)
        assert r.status == 200, (path, r.status, (await r.text())[:300])
        if r.content_type == "text/html":
            body = await r.text()
            links = LOCAL.findall(body)
            assert links, path
            todo += [x.replace("&amp;", "&") for x in links if "/dump/" not in x]
    assert f"/hostsnap/s/{sid}/raw/" in " ".join(seen)
    assert "/hostsnap/static/hostsnap.css" in seen and "/hostsnap/static/hostsnap.js" in seen
    assert "/hostsnap/h/web-03" in seen
