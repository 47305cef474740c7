"""Review (brief WR): the pages read at 3 a.m.: every number with its unit,
every empty place saying why, nothing a reader has to puzzle over."""

from __future__ import annotations

import html
import re

from tests.web.test_timeline_pages import _signed_in, host_snapshot


def _text(body: str) -> str:
    body = re.sub(r"<svg.*?</svg>", "", body, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", body)))


async def test_compare_shows_memory_as_a_size_not_kilobytes(serve_pages, store):
    a = await host_snapshot(store, "web-07", threads=1000, time_wait=10, mem_used_pct=40,
                            days_ago=1)
    b = await host_snapshot(store, "web-07", threads=1400, time_wait=10, mem_used_pct=70)
    pages = await serve_pages()
    browser = await _signed_in(pages, b)
    r = await browser.get(f"/compare/{a}/{b}")
    text = _text(await r.text())
    assert r.status == 200
    assert "kB" not in text and "9,600,000" not in text
    # 16 000 000 kB total: 60 % then 30 % available
    assert re.search(r"MemAvailable 9\.2 GiB 4\.6 GiB -4\.6 GiB", text), text
    # and the drawing says it as the table does, whole (not cut at its edge)
    svg = await r.text()
    assert "MemAvailable kB" not in svg
    assert "9.2 GiB → 4.6 GiB (-4.6 GiB)" in html.unescape(svg)


async def test_comparing_a_snapshot_with_itself_says_so(serve_pages, store):
    a = await host_snapshot(store, "web-07", threads=1000, time_wait=10, mem_used_pct=40)
    pages = await serve_pages()
    browser = await _signed_in(pages, a)
    text = _text(await (await browser.get(f"/compare/{a}/{a}")).text())
    assert f"This compares snapshot {a} with itself: nothing can differ." in text


async def test_a_fleet_too_small_to_compare_says_why_nobody_stands_out(serve_pages, store):
    a = await host_snapshot(store, "web-07", threads=1000, time_wait=10, mem_used_pct=40)
    pages = await serve_pages()
    browser = await _signed_in(pages, a)
    r = await browser.get(f"/fleet/{a},{a}")  # a duplicate is one host
    text = _text(await r.text())
    assert r.status == 200
    assert "Fleet 1 host " in text and "1 hosts" not in text
    assert "No host can stand out: a comparison needs 3 hosts of a group, and this fleet " \
           "has 1." in text


async def test_a_snapshot_without_findings_says_so_in_every_list(serve_pages, store):
    a = await host_snapshot(store, "web-07", threads=1000, time_wait=10, mem_used_pct=40)
    pages = await serve_pages()
    browser = await _signed_in(pages, a)
    for path in ("/", "/h/web-07", f"/fleet/{a}"):
        body = await (await browser.get(path)).text()
        assert "no findings" in _text(body), path
        assert "<td></td>" not in body.replace("\n", ""), path


async def test_a_host_timeline_leaves_out_snapshots_of_a_group_the_viewer_may_not_see(
        serve_pages, store):
    """A host moved from vault to payments: Alice (payments) sees its payments
    snapshots, is told the vault ones are left out, and sees none of their numbers."""
    old = await host_snapshot(store, "web-07", threads=77_777, time_wait=10, mem_used_pct=40,
                              days_ago=3, group="vault")
    new = await host_snapshot(store, "web-07", threads=1000, time_wait=10, mem_used_pct=40)
    pages = await serve_pages()
    browser = await _signed_in(pages, new)
    r = await browser.get("/h/web-07")
    body = await r.text()
    assert r.status == 200
    assert old not in body and "77,777" not in body and "77 777" not in body
    assert new in body
    assert ("1 older snapshot of this host, taken while it was in group vault, which you may "
            "not see, is left out.") in _text(body)
