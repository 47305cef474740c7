"""The compare page over HTTP: two stored snapshots side by side, the growth
drawn (bars before -> after), as the CLI's `hostsnap diff` computes it."""

from __future__ import annotations

import re

from tests.web.bigdumps import store_dumps
from tests.web.conftest import ALICE, corpus_jvm
from tests.web.test_timeline_pages import host_snapshot


async def test_compare_draws_what_grew_between_two_snapshots(serve_pages, store):
    a = await store_dumps(store, "web-03", "payments", jvm=[corpus_jvm("executor.1.jcmd")],
                          threads=1000)
    b = await store_dumps(store, "web-03", "payments", jvm=[corpus_jvm("executor.2.jcmd")],
                          threads=3000)
    pages = await serve_pages()
    browser = await pages.client()
    assert (await browser.get(pages.link(b, ALICE))).status == 200
    r = await browser.get(f"/compare/{a}/{b}")
    body = await r.text()
    assert r.status == 200, body
    # side by side, older first whichever order the URL gives
    assert body.index(f'href="/s/{a}"') < body.index(f'href="/s/{b}"')
    again = await (await browser.get(f"/compare/{b}/{a}")).text()
    assert again.index(f'href="/s/{a}"') < again.index(f'href="/s/{b}"')
    # the host numbers: listed and drawn, with the growth in the alarm colour
    assert "threads (visible processes)" in body
    assert "<td class=\"n\">2,100</td><td class=\"n\">4,100</td><td class=\"n\">+2,000</td>" \
        in body
    numbers = body[body.index('aria-label="host numbers'):]
    numbers = numbers[:numbers.index("</svg>")]
    assert 'fill="#c0392b"' in numbers  # the part that grew
    assert "2 100 → 4 100 (+2 000)" in numbers
    # the JVM's dumps compared: per pool and per stack group
    assert "java pid 4242" in body
    assert "threads per pool, before → after" in body
    events = await store.audit_events(action="diff")
    assert sorted((e.snapshot_id, e.detail["older"], e.detail["interface"]) for e in events) \
        == sorted([(b, a, "web"), (a, b, "web")])  # each look, as the URL named them


async def test_compare_needs_the_rights_on_both_hosts(serve_pages, store):
    mine = await host_snapshot(store, "web-01", threads=1, time_wait=1, mem_used_pct=1)
    theirs = await host_snapshot(store, "db-01", threads=1, time_wait=1, mem_used_pct=1,
                                 group="databases")
    pages = await serve_pages()
    browser = await pages.client()
    await browser.get(pages.link(mine, ALICE))
    r = await browser.get(f"/compare/{mine}/{theirs}")
    assert r.status == 403
    assert not await store.audit_events(action="diff")
    stranger = await pages.client()
    assert (await stranger.get(f"/compare/{mine}/{mine}")).status == 401
    r = await browser.get(f"/compare/{mine}/zzzz9999")
    assert r.status == 404
    assert re.search(r"No such snapshot", await r.text())
