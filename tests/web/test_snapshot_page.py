"""The snapshot page over HTTP: what a person opening it sees."""

from __future__ import annotations

from tests.web.conftest import ALICE


async def test_a_link_opens_the_snapshot_page_with_its_evidence(serve_pages, snapshot_id):
    pages = await serve_pages()
    browser = await pages.client()
    r = await browser.get(pages.link(snapshot_id, ALICE))
    body = await r.text()
    assert r.status == 200, body
    assert "web-03" in body and snapshot_id in body
    assert "Findings" in body
    assert f'href="/s/{snapshot_id}/dump/0"' in body
    assert r.headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert r.headers["Referrer-Policy"] == "no-referrer"
    # the session cookie set by the link opens the page again without it
    again = await browser.get(f"/s/{snapshot_id}")
    assert again.status == 200
