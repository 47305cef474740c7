"""The thread-dump explorer over HTTP, on a stored snapshot of real corpus dumps
(a JVM deadlock, a Go mutex convoy): what a person opening it sees."""

from __future__ import annotations

import os
import re
import time

from tests.web.bigdumps import store_dumps
from tests.web.conftest import ALICE, BOB, EVE, corpus_jvm


async def _open(serve_pages, sid, user=ALICE):
    pages = await serve_pages()
    browser = await pages.client()
    r = await browser.get(pages.link(sid, user))
    assert r.status == 200 or user == EVE, await r.text()
    return pages, browser


def _groups(body: str) -> list[int]:
    """The counts in the group summaries, in page order."""
    return [int(n.replace(",", "")) for n in re.findall(
        r'<details class="group"[^>]*>\s*<summary><b class="n">([\d,]+)</b>', body)]


async def test_jvm_dump_groups_biggest_first_collapsed_and_the_deadlock_drawn(
        serve_pages, snapshot_id):
    _, browser = await _open(serve_pages, snapshot_id)
    r = await browser.get(f"/s/{snapshot_id}/dump/0")
    body = await r.text()
    assert r.status == 200, body
    assert "jvm/4242-dump1.txt" in body
    counts = _groups(body)
    # biggest first; the VM's own threads (no Java frames) last
    assert len(counts) > 2 and counts[:-1] == sorted(counts[:-1], reverse=True)
    assert body.rindex("<code>(no frames)</code>") > body.index("<code>")
    assert "<details open" not in body  # collapsed by default
    # the page ships no thread list: groups load on demand
    assert 'data-src="/s/' in body and "/group/1" in body
    # the deadlock: both locks, their holders, drawn and listed
    assert '<svg xmlns="http://www.w3.org/2000/svg"' in body and 'class="lockgraph"' in body
    assert body.count('class="deadlock"') >= 2
    assert "itself waiting for" in body
    assert 'class="flame"' in body
    # states with their counts link to a filter
    assert "?state=BLOCKED" in body
    # pools with their states
    assert re.search(r"transfer-N</a></td><td class=\"n\">2</td><td class=\"dim\">BLOCKED 2", body)


async def test_a_group_loads_its_frames_and_threads_as_a_fragment(serve_pages, snapshot_id):
    _, browser = await _open(serve_pages, snapshot_id)
    r = await browser.get(f"/s/{snapshot_id}/dump/0/group/1")
    body = await r.text()
    assert r.status == 200, body
    assert "<html" not in body  # a fragment, not a page
    assert '<pre class="frames">at ' in body
    assert "<table" in body
    r = await browser.get(f"/s/{snapshot_id}/dump/0/group/999")
    assert r.status == 404 and "stack groups" in await r.text()


async def test_search_by_name_frame_and_lock_address_with_a_state_filter(
        serve_pages, snapshot_id):
    _, browser = await _open(serve_pages, snapshot_id)
    page = await (await browser.get(f"/s/{snapshot_id}/dump/0")).text()
    address = re.search(r"\?q=(0x[0-9a-f]{16})", page).group(1)
    r = await browser.get(f"/s/{snapshot_id}/dump/0/search", params={"q": address})
    body = await r.text()
    assert r.status == 200, body
    n = int(re.search(r"([\d,]+) threads match", body).group(1))
    assert n >= 2  # its holder and who waits for it
    assert address in body
    # by frame
    r = await browser.get(f"/s/{snapshot_id}/dump/0/search", params={"q": "Thread.run"})
    assert int(re.search(r"([\d,]+) threads match", await r.text()).group(1)) > 0
    # a state filter narrows it
    r = await browser.get(f"/s/{snapshot_id}/dump/0/search",
                          params={"q": "Thread.run", "state": "BLOCKED"})
    body = await r.text()
    rows = re.findall(r"<tr><td>[^<]*</td><td>(\w+)", body)
    assert rows and set(rows) == {"BLOCKED"}
    r = await browser.get(f"/s/{snapshot_id}/dump/0/search", params={"q": "no-such-thing-xyz"})
    assert "0 threads match" in await r.text()


async def test_go_dump_shows_the_mutex_convoy(serve_pages, snapshot_id):
    _, browser = await _open(serve_pages, snapshot_id)
    r = await browser.get(f"/s/{snapshot_id}/dump/1")
    body = await r.text()
    assert r.status == 200, body
    assert "goroutines" in body and "semacquire" in body
    assert "holder not recorded (Go)" in body
    counts = _groups(body)
    assert counts[0] == max(counts) >= 100  # the convoy's groups are the biggest
    first = body[body.index('<details class="group"'):]
    assert ">semacquire</span>" in first[:first.index("</summary>")]
    r = await browser.get(f"/s/{snapshot_id}/dump/1/group/1")
    frag = await r.text()
    assert "goroutine " in frag and "sync" in frag


async def test_what_grew_between_two_dumps_of_one_process(serve_pages, store):
    sid = await store_dumps(store, "web-04", "payments",
                            jvm=[corpus_jvm("executor.1.jcmd"), corpus_jvm("executor.2.jcmd")])
    _, browser = await _open(serve_pages, sid)
    r = await browser.get(f"/s/{sid}/dump/1")
    body = await r.text()
    assert r.status == 200, body
    assert "What grew since jvm/" in body and "dump1.txt" in body
    assert "threads per pool, before → after" in body


async def test_who_may_not_see_the_host_gets_403_and_strangers_401(serve_pages, snapshot_id):
    pages = await serve_pages()
    stranger = await pages.client()
    r = await stranger.get(f"/s/{snapshot_id}/dump/0")
    assert r.status == 401
    r = await stranger.get(f"/s/{snapshot_id}/dump/0/group/1")
    body = await r.text()
    assert r.status == 401 and "frames" not in body and "<pre" not in body
    eve = await pages.client()
    r = await eve.get(pages.link(snapshot_id, EVE))
    assert r.status == 403
    r = await eve.get(f"/s/{snapshot_id}/dump/0/group/1")
    assert r.status in (401, 403)
    bob = await pages.client()  # may view (not raw downloads): the explorer is a view
    await bob.get(pages.link(snapshot_id, BOB))
    assert (await bob.get(f"/s/{snapshot_id}/dump/0")).status == 200


async def test_every_look_is_audited_and_the_dump_is_parsed_once(serve_pages, snapshot_id,
                                                                store):
    pages, browser = await _open(serve_pages, snapshot_id)
    worker = pages.core.snapshots.dumps.worker
    t = time.perf_counter()
    assert (await browser.get(f"/s/{snapshot_id}/dump/0")).status == 200
    assert (await browser.get(f"/s/{snapshot_id}/dump/0/group/1")).status == 200
    assert (await browser.get(f"/s/{snapshot_id}/dump/0/search?q=x")).status == 200
    assert (await browser.get(f"/s/{snapshot_id}/dump/0?state=BLOCKED")).status == 200
    assert time.perf_counter() - t < 10
    stats = await worker.stats()
    # parsed in the worker process, once (the snapshot page's warm-up may parse dump 1 too)
    assert stats["pid"] != os.getpid() and (snapshot_id, 0) in stats["entries"]
    assert stats["parses"] == len(stats["entries"]) <= 2
    events = await store.audit_events(snapshot_id=snapshot_id, action="view_raw")
    mine = [e for e in events if e.detail.get("explorer") and e.actor.endswith(ALICE)]
    assert len(mine) == 4 and all(e.detail["interface"] == "web" for e in mine)
    assert {e.target for e in mine} == {"jvm/4242-dump1.txt"}


async def test_hostile_thread_names_are_escaped(serve_pages, store):
    hostile = '<script>alert(1)</script>'
    text = corpus_jvm().decode().replace('"transfer-1"', f'"{hostile}"')
    sid = await store_dumps(store, "web-05", "payments", jvm=[text.encode()])
    _, browser = await _open(serve_pages, sid)
    for url in (f"/s/{sid}/dump/0", f"/s/{sid}/dump/0/search?q=script"):
        body = await (await browser.get(url)).text()
        assert "<script>alert" not in body
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body


async def test_the_snapshot_page_starts_parsing_its_dumps(serve_pages, snapshot_id, store):
    """Opening the snapshot page parses its dumps in the explorer's worker and keeps
    their pages in the database, so the first click on a dump does not wait for
    its parse; nothing is audited until someone looks."""
    import asyncio

    from bot.render.dumpview import VIEW_VERSION
    from collectors.analysis.stage import RULES_VERSION

    pages = await serve_pages()
    browser = await pages.client()
    assert (await browser.get(pages.link(snapshot_id, ALICE))).status == 200
    worker = pages.core.snapshots.dumps.worker
    version = f"{VIEW_VERSION}.{RULES_VERSION}"
    for _ in range(100):  # bounded: 10 s
        kept = [await store.get_dump_view(snapshot_id, n, version) for n in (0, 1)]
        if all(kept) and len((await worker.stats())["entries"]) == 2:
            break
        await asyncio.sleep(0.1)
    assert all(kept) and len((await worker.stats())["entries"]) == 2
    events = await pages.core.store.audit_events(snapshot_id=snapshot_id, action="view_raw")
    assert not [e for e in events if e.detail.get("explorer")]


async def test_concurrent_first_views_parse_once_and_the_worker_is_bounded(
        serve_pages, store):
    """Five people opening one unparsed dump at once: one read, one parse. The
    worker keeps at most max_entries dumps (its memory bound), oldest out."""
    import asyncio

    from bot.snapshots.dumpworker import Lru
    from tests.web.conftest import corpus_go

    sids = [await store_dumps(store, f"web-1{i}", "payments", go=corpus_go("mutex-aged.debug2"))
            for i in range(4)]
    pages = await serve_pages()
    worker = pages.core.snapshots.dumps.worker
    await worker.stats()  # the one the server started...
    worker.close()  # ...goes: the next has a smaller bound
    worker.max_entries = 3
    first = await pages.client()
    await first.get(pages.link(sids[0], ALICE))  # signs in (and starts the warm-up)
    rs = await asyncio.gather(*(first.get(f"/s/{sids[0]}/dump/0/search?q=goroutine")
                                for _ in range(5)))
    assert [r.status for r in rs] == [200] * 5
    assert len({await r.text() for r in rs}) == 1
    assert (await worker.stats())["parses"] == 1  # the warm-up and the five shared it
    for sid in sids[1:]:
        b = await pages.client()
        assert (await b.get(pages.link(sid, ALICE))).status == 200
        assert (await b.get(f"/s/{sid}/dump/0/group/1")).status == 200
    stats = await worker.stats()
    assert stats["entries"] == [(sid, 0) for sid in sids[1:]]  # the oldest went
    assert stats["parses"] == 4
    # the LRU's size bound: a dump too big for the others leaves it alone
    lru = Lru(max_entries=3, max_bytes=1000)
    from bot.snapshots.dumpworker import DumpRef, ExploredDump

    for i, size in enumerate((10, 10, 995)):
        lru.put(("a", i), ExploredDump(DumpRef("a", i, "jvm/1-dump1.txt", "jvm"), size, 0))
    assert list(lru.items) == [("a", 2)]


def test_the_pictures_escape_every_text():
    from datetime import UTC, datetime

    from bot.render.dumpview import FlameNode, LockNode
    from bot.render.svg.bars import Bar, bars
    from bot.render.svg.flame import icicle
    from bot.render.svg.lockgraph import lock_graph
    from bot.render.svg.timeline import Point, line_chart

    evil = '<script>alert("x")</script>&'
    root = FlameNode("all", 10, {evil: FlameNode(evil, 10)})
    pictures = [
        icicle(root, evil),
        lock_graph([LockNode(address=evil, class_name=evil, owner=evil, owner_state=evil,
                             waiters=3, by_pool=[(evil, 3)])], evil),
        bars([Bar(evil, 3, before=1, href=f'/s/x"{evil}', note=evil)], evil),
        line_chart([Point(datetime(2026, 1, 1, tzinfo=UTC), 5, f'/s/"{evil}', evil)], evil),
    ]
    for svg in pictures:
        assert svg.startswith("<svg") and svg.endswith("</svg>")
        assert "<script" not in svg and 'href="/s/x"<' not in svg
        assert "&lt;script&gt;" in svg


async def test_a_file_with_two_dumps_shows_the_last_and_what_grew_since_the_first(
        serve_pages, store):
    """A SIGQUIT log (a container's stdout) holds every dump the JVM printed."""
    first, second = corpus_jvm("evictor.1.jstack"), corpus_jvm("evictor.2.jstack")
    sid = await store_dumps(store, "web-06", "payments", jvm=[first + b"\n" + second])
    _, browser = await _open(serve_pages, sid)
    body = await (await browser.get(f"/s/{sid}/dump/0")).text()
    assert "the last of 2 dumps in this file" in body
    assert "697 threads" in body
    assert "What grew since the previous dump in this file" in body
    assert "298 → 697 threads (+399)" in body


async def test_many_matches_and_big_groups_are_paged(serve_pages, store):
    from tests.web.conftest import corpus_go

    sid = await store_dumps(store, "web-06", "payments", go=corpus_go("mutex-aged.debug2"))
    _, browser = await _open(serve_pages, sid)
    r = await browser.get(f"/s/{sid}/dump/0/search", params={"q": "goroutine"})
    body = await r.text()
    assert "305 goroutines match" in body and "page 1 of 4" in body
    assert body.count("<tr><td>goroutine ") == 100
    last = await (await browser.get(f"/s/{sid}/dump/0/search",
                                    params={"q": "goroutine", "page": "4"})).text()
    assert "page 4 of 4" in last and last.count("<tr><td>goroutine ") == 5
    assert "next →" not in last and "← previous" in last
    # a group of 150: the first 100, then "more" loads the rest
    frag = await (await browser.get(f"/s/{sid}/dump/0/group/1")).text()
    assert frag.count("<tr><td>goroutine ") == 100 and "50 not shown yet" in frag
    more = re.search(r'data-src="([^"]+page=2[^"]*)"', frag).group(1)
    rest = await (await browser.get(more.replace("&amp;", "&"))).text()
    assert rest.count("<tr><td>goroutine ") == 50 and "not shown yet" not in rest
    assert '<pre class="frames">' not in rest  # the frames came with the first page


async def test_a_debug1_goroutine_dump_lists_stacks_without_goroutines(serve_pages, store):
    from tests.web.conftest import corpus_go

    sid = await store_dumps(store, "web-06", "payments", go=corpus_go("mutex-aged.debug1"))
    _, browser = await _open(serve_pages, sid)
    body = await (await browser.get(f"/s/{sid}/dump/0")).text()
    assert "goroutines debug=1" in body
    assert "lists stacks with counts, not goroutines" in body
    assert _groups(body)[0] >= 100
    frag = await (await browser.get(f"/s/{sid}/dump/0/group/1")).text()
    assert "debug=1 lists no single goroutine" in frag and '<pre class="frames">' in frag


async def test_big_raw_files_are_unpacked_off_the_loop_and_still_checked(store):
    """Store.get_artifact: a dump over 1 MB is decompressed and hashed in a worker
    thread; a stored file whose hash does not match is still refused."""
    import pytest
    from sqlalchemy import update

    from bot.store.db import DatabaseError
    from bot.store.models import ArtifactRow

    big = corpus_jvm("lock-convoy.jcmd") * 40
    assert len(big) > 1 << 20
    sid = await store_dumps(store, "web-06", "payments", jvm=[big, corpus_jvm()])
    _, data = await store.get_artifact(sid, "jvm/4242-dump1.txt")
    assert data == big
    async with store.sessions.begin() as s:
        await s.execute(update(ArtifactRow).where(ArtifactRow.snapshot_id == sid)
                        .values(sha256="0" * 64))
    for name in ("jvm/4242-dump1.txt", "jvm/4242-dump2.txt"):  # threaded, inline
        with pytest.raises(DatabaseError, match="corrupt"):
            await store.get_artifact(sid, name)
