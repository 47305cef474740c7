"""The host timeline, fleet and alerts pages over HTTP, on snapshots and alerts
stored through the real Store: what a person opening them sees."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from bot.access.links import Identity
from bot.alerts.ledger import Ledger
from bot.alerts.payloads import Alert
from bot.config import HostEntry
from bot.store.models import AlertRow, SnapshotRow
from collectors.analysis.hostmodels import MemorySummary, NetworkSummary
from collectors.base import CollectorResult, Status
from tests.web.bigdumps import store_dumps
from tests.web.conftest import ALICE, BOB, EVE, stored_snapshot


async def host_snapshot(store, host: str, *, threads: int, time_wait: int, mem_used_pct: float,
                        days_ago: float = 0, group: str = "payments") -> str:
    """A snapshot of `host` with these numbers, taken `days_ago`."""
    sid = await store_dumps(store, host, group, threads=threads)
    total = 16_000_000
    await store.add_result(sid, CollectorResult("network", Status.OK, parsed=NetworkSummary(
        states={"TIME-WAIT": time_wait}, total=time_wait + 40, time_wait=time_wait,
        port_range=(32768, 60999)).model_dump(mode="json")))
    await store.add_result(sid, CollectorResult("memory", Status.OK, parsed=MemorySummary(
        mem_total_kb=total, mem_available_kb=int(total * (1 - mem_used_pct / 100))
    ).model_dump(mode="json")))
    async with store.sessions.begin() as s:
        await s.execute(update(SnapshotRow).where(SnapshotRow.id == sid).values(
            created_at=datetime.now(UTC) - timedelta(days=days_ago)))
    return sid


async def _signed_in(pages, sid, user=ALICE):
    browser = await pages.client()
    r = await browser.get(pages.link(sid, user))
    assert r.status == (403 if user == EVE else 200)
    return browser


async def test_host_timeline_shows_a_slow_leak_over_days_with_links(serve_pages, store):
    ids = [await host_snapshot(store, "web-07", threads=1000 + 400 * i, time_wait=100 + 10 * i,
                               mem_used_pct=40 + 5 * i, days_ago=6 - i) for i in range(6)]
    await host_snapshot(store, "web-08", threads=99_999, time_wait=1, mem_used_pct=1)
    pages = await serve_pages()
    browser = await _signed_in(pages, ids[-1])
    r = await browser.get("/h/web-07")
    body = await r.text()
    assert r.status == 200, body
    # three charts, each point a link to its snapshot
    assert body.count('class="timeline"') == 3
    for sid in ids:
        assert body.count(f'href="/s/{sid}"') >= 4  # a point per chart and the table row
    assert "99 999" not in body and "99,999" not in body  # another host's snapshot
    # the threads line rises left to right: the points' y falls as x grows
    chart = body[body.index('class="timeline"'):]
    chart = chart[:chart.index("</svg>")]
    pts = [(float(x), float(y))
           for x, y in re.findall(r'<circle cx="([\d.]+)" cy="([\d.]+)"', chart)]
    assert len(pts) == 6
    assert [x for x, _ in pts] == sorted(x for x, _ in pts)
    assert [y for _, y in pts] == sorted((y for _, y in pts), reverse=True)
    # the table: newest first, with a compare link to the one before
    table = body[body.index('<section id="snapshots">'):]
    assert table.index(ids[-1]) < table.index(ids[0])
    assert f"/compare/{ids[-2]}/{ids[-1]}" in body
    assert "<td class=\"n\">4,100</td>" in table  # 1000 + 400*5 + 1100 visible threads


async def test_host_page_rights_and_unknown_hosts(serve_pages, store):
    sid = await host_snapshot(store, "web-09", threads=10, time_wait=1, mem_used_pct=10)
    other = await host_snapshot(store, "db-01", threads=10, time_wait=1, mem_used_pct=10,
                                group="databases")
    pages = await serve_pages()
    stranger = await pages.client()
    assert (await stranger.get("/h/web-09")).status == 401
    browser = await _signed_in(pages, sid)
    assert (await browser.get("/h/db-01")).status == 403  # ALICE: payments only
    r = await browser.get("/h/no-such-host")
    assert r.status == 404 and "no snapshot of no-such-host" in await r.text()
    events = await store.audit_events(action="view_host")
    assert [e.target for e in events] == []  # refused and unknown: nothing shown
    assert (await browser.get("/h/web-09")).status == 200
    events = await store.audit_events(action="view_host")
    assert [(e.target, e.detail["interface"]) for e in events] == [("web-09", "web")]
    assert other


async def test_fleet_page_marks_the_host_that_stands_out(serve_pages, store):
    ids = [await host_snapshot(store, f"web-{i:02d}", threads=1000 + i, time_wait=100,
                               mem_used_pct=40) for i in range(5)]
    ids.append(await host_snapshot(store, "web-99", threads=9000, time_wait=100,
                                   mem_used_pct=40))
    pages = await serve_pages()
    browser = await _signed_in(pages, ids[0])
    r = await browser.get("/fleet/" + ",".join(ids))
    body = await r.text()
    assert r.status == 200, body
    assert "web-99: threads" in body  # the standout, in words
    # drawn: the threads bars, web-99 first (biggest) and marked
    bars = body[body.index('aria-label="threads per host"'):]
    bars = bars[:bars.index("</svg>")]
    labels = re.findall(r'text-anchor="end" fill="[^"]+">([^<]+)</text>', bars)
    assert labels[0] == "⚠ web-99" and all(not x.startswith("⚠") for x in labels[1:])
    assert len(labels) == 6
    for sid in ids:
        assert f'href="/s/{sid}"' in body


async def test_fleet_page_needs_every_hosts_rights(serve_pages, store):
    a = await host_snapshot(store, "web-01", threads=1, time_wait=1, mem_used_pct=1)
    b = await host_snapshot(store, "db-01", threads=1, time_wait=1, mem_used_pct=1,
                            group="databases")
    pages = await serve_pages()
    browser = await _signed_in(pages, a)
    assert (await browser.get(f"/fleet/{a},{b}")).status == 403
    assert (await browser.get(f"/fleet/{a}")).status == 200
    assert (await browser.get("/fleet/zzzz9999")).status == 404


async def _alerts(store, sid: str) -> None:
    """Three alerts as the webhook leaves them: one captured (with its snapshot),
    one of another group's host, one of a host not in the inventory."""
    ledger = Ledger(store)
    await ledger.record([Alert(
        receiver="am", status="firing", fingerprint=f"f{i}", starts_raw=f"t{i}",
        starts_at=None, ends_at=None, labels={"alertname": name, "instance": host})
        for i, (name, host) in enumerate([("ThreadsHigh", "web-03"),
                                          ("DiskFull<script>x</script>", "db-01"),
                                          ("Unknown", "nope-1")])])
    what = {"f0": ("web-03", "captured", "snapshot taken"),
            "f1": ("db-01", "captured", "<b>bold</b>"),
            "f2": ("instance=nope-1", "unknown_host", "instance=nope-1: not in the inventory")}
    for row in await ledger.rows():
        host, outcome, detail = what[row.fingerprint]
        async with store.sessions.begin() as s:
            await s.execute(update(AlertRow).where(AlertRow.id == row.id).values(host=host))
        await ledger.set_outcome(row.id, outcome, detail)
        if row.fingerprint == "f0":
            await ledger.set_snapshot(row.id, sid)


async def test_alerts_page_lists_outcomes_of_hosts_the_viewer_may_see(serve_pages, store):
    sid = await stored_snapshot(store)
    await _alerts(store, sid)
    pages = await serve_pages()
    # the inventory says which group an alert's host is in
    pages.core.settings.hosts = [HostEntry(name="web-03", group="payments"),
                                 HostEntry(name="db-01", group="databases")]
    browser = await _signed_in(pages, sid, BOB)
    r = await browser.get("/alerts")
    body = await r.text()
    assert r.status == 200, body
    assert "ThreadsHigh" in body and "captured" in body and f'href="/s/{sid}"' in body
    assert "DiskFull" not in body  # db-01 is not in BOB's groups
    assert "alerts of hosts you may not see are not shown" in body
    r = await browser.get("/alerts", params={"outcome": "unknown_host"})
    assert "ThreadsHigh" not in await r.text()
    stranger = await pages.client()
    assert (await stranger.get("/alerts")).status == 401
    # audited as the other interfaces' views are: who, through what, what was left out
    first, = [e for e in await store.audit_events(action="view_alerts")
              if e.detail.get("outcome") is None]
    assert first.actor.endswith(BOB) and first.detail["interface"] == "web"
    assert (first.detail["shown"], first.detail["hidden"]) == (1, 2)


async def test_alerts_page_escapes_what_the_sender_wrote(serve_pages, store):
    sid = await stored_snapshot(store)
    await _alerts(store, sid)
    pages = await serve_pages(onetime=True)
    # `hostsnap web`: the local operator's one-time token
    token = pages.onetime.issue(Identity("root", "", "local"))
    browser = await pages.client()
    r = await browser.get(f"/alerts?t={token}")
    body = await r.text()
    assert r.status == 200, body
    assert "<script>x</script>" not in body and "&lt;script&gt;x&lt;/script&gt;" in body
    assert "<b>bold</b>" not in body and "&lt;b&gt;bold&lt;/b&gt;" in body
    assert "nope-1" in body  # the local operator sees every alert


async def test_the_timeline_use_case_on_sqlite_and_postgresql(any_store):
    from bot.access.viewer import Viewer
    from bot.snapshots.service import SnapshotService

    old = await host_snapshot(any_store, "web-07", threads=100, time_wait=5, mem_used_pct=30,
                              days_ago=2)
    new = await host_snapshot(any_store, "web-07", threads=900, time_wait=50, mem_used_pct=75)
    await host_snapshot(any_store, "web-08", threads=1, time_wait=1, mem_used_pct=1)
    points = await SnapshotService(any_store).timeline(Viewer("cli:ops", "cli"), "web-07")
    assert [p.snapshot.id for p in points] == [old, new]  # oldest first, this host only
    assert [(p.threads, p.time_wait, p.mem_used_pct) for p in points] == [
        (1200, 5, 30.0), (2000, 50, 75.0)]
    events = await any_store.audit_events(action="view_host")
    assert [(e.actor, e.target, e.detail["snapshots"]) for e in events] == [
        ("cli:ops", "web-07", 2)]
