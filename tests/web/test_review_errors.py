"""Review of the pages (brief WR): every answer of the pages' server carries
the pages' headers, errors included; a mistyped address or a failure is a page
that says what happened and what to do, never aiohttp's bare text."""

from __future__ import annotations

import html
import re

import pytest

from bot.web.pages import CSP
from tests.web.conftest import ALICE


def _message(body: str) -> str:
    m = re.search(r'<p class="message">(.*?)</p>', body, re.S)
    assert m, body[:500]
    return html.unescape(m.group(1))


@pytest.mark.parametrize("path", [
    "/nonexistent", "/s/", "/fleet/", "/s/{sid}/nonsense", "/s/{sid}/dump/-1",
    "/s/{sid}/dump/abc", "/s/{sid}/raw/%2e%2e/%2e%2e/etc/passwd", "/static/nope.css",
    "/static/%2e%2e/pages/guard.py", "/static/",
])
async def test_every_error_has_the_pages_headers(serve_pages, snapshot_id, path):
    pages = await serve_pages()
    browser = await pages.client()
    await browser.get(pages.link(snapshot_id, ALICE))  # signed in: not a 401 first
    r = await browser.get(path.format(sid=snapshot_id))
    assert r.status in (403, 404), r.status
    assert r.headers.get("Content-Security-Policy") == CSP
    assert r.headers.get("X-Content-Type-Options") == "nosniff"
    assert r.headers.get("Referrer-Policy") == "no-referrer"


@pytest.mark.parametrize("path", ["/nonexistent", "/s/", "/s/{sid}/nonsense"])
async def test_a_mistyped_address_says_which_pages_there_are(serve_pages, snapshot_id, path):
    pages = await serve_pages()
    r = await (await pages.client()).get(path.format(sid=snapshot_id))
    body = await r.text()
    assert r.status == 404 and r.content_type == "text/html"
    msg = _message(body)
    assert msg.startswith("hostsnap has no page at /") and "/s/ID (a snapshot)" in msg


async def test_a_wrong_method_is_a_page_too(serve_pages, snapshot_id):
    pages = await serve_pages()
    r = await (await pages.client()).post(f"/s/{snapshot_id}")
    assert r.status == 405 and r.headers.get("Allow") == "GET,HEAD"
    assert r.headers.get("Content-Security-Policy") == CSP
    assert "open it in a browser" in _message(await r.text())


async def test_static_files_have_the_headers_and_may_be_cached(serve_pages):
    pages = await serve_pages()
    r = await (await pages.client()).get("/static/hostsnap.css")
    assert r.status == 200
    assert r.headers.get("Content-Security-Policy") == CSP
    assert "no-store" not in r.headers.get("Cache-Control", "")


async def test_a_failing_page_says_so_with_a_reference_not_the_exception(store, caplog):
    """A bug in a page handler: a page saying what to do, the exception only in the log."""
    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer

    from bot.access.links import Signer
    from bot.app import App
    from bot.web.pages import _page, attach_pages
    from tests.web.conftest import SECRET, settings_with

    async def broken(request: web.Request) -> web.Response:
        raise KeyError("internal detail <b>x</b>")

    settings = settings_with(store)
    app = web.Application()
    attach_pages(app, App(settings, store), settings.web, signer=Signer(SECRET))
    app.router.add_get("/broken", _page(broken))
    async with TestClient(TestServer(app, host="127.0.0.1")) as browser:
        r = await browser.get("/broken")
        body = await r.text()
    assert r.status == 500 and r.headers.get("Content-Security-Policy") == CSP
    msg = _message(body)
    ref = re.search(r"logged with reference ([0-9a-f]{8})", msg)
    assert ref and "give that reference to whoever runs hostsnap" in msg
    assert "internal detail" not in body and "KeyError" not in body
    assert any(ref.group(1) in r.getMessage() and r.exc_info for r in caplog.records)


@pytest.mark.parametrize(("base_url", "warned"), [
    ("http://pages.example.com", True), ("http://10.0.4.10:3000/hostsnap", True),
    ("https://pages.example.com", False), ("http://127.0.0.1:3000", False),
    ("http://localhost:3000", False),
])
async def test_a_plain_http_base_url_is_warned_about(serve_pages, caplog, base_url, warned):
    await serve_pages(base_url=base_url)
    said = [r.getMessage() for r in caplog.records if "is plain http" in r.getMessage()]
    assert bool(said) == warned, said
    if warned:
        assert "Put a TLS proxy in front and make base_url https://" in said[0]


async def test_a_fleet_address_naming_too_many_snapshots_says_how_many(serve_pages,
                                                                       snapshot_id):
    pages = await serve_pages()
    browser = await pages.client()
    await browser.get(pages.link(snapshot_id, ALICE))
    many = ",".join(f"{i:08d}" for i in range(301))
    r = await browser.get(f"/fleet/{many}")
    assert r.status == 400
    assert _message(await r.text()) == ("This address names 301 snapshots; a fleet page shows "
                                        "at most 300. Split the list.")
    # the same id 900 times is one snapshot, not too many
    r = await browser.get("/fleet/" + ",".join([snapshot_id] * 900))
    assert r.status == 200
