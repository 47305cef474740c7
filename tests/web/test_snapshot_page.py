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


HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


async def _hostile_snapshot(store) -> str:
    """Every text an attacker could put on a host (process names, command
    lines, cgroup paths, thread names in dumps, remote addresses, file names)."""
    from collectors.analysis.findings import CodeBlock, Finding, Severity, TableBlock
    from collectors.analysis.hostmodels import (
        CgroupPids,
        Endpoint,
        LimitsSummary,
        NetworkSummary,
        ProcessInfo,
        UserThreads,
    )
    from collectors.base import Artifact, CollectorResult, Status

    sid = await store.create_snapshot(f"evil{HOSTILE}", group="payments", trigger="slack",
                                      requested_by=HOSTILE)
    lim = LimitsSummary(threads_max=1000, pid_max=4096, visible_threads=900, top=[ProcessInfo(
        pid=1, name=HOSTILE, user=HOSTILE, uid=0, threads=800, cmdline=HOSTILE, cgroup=HOSTILE)],
        users=[UserThreads(user=HOSTILE, uid=0, threads=900, processes=1, nproc_limit=1000)],
        cgroups=[CgroupPids(path=HOSTILE, version=2, pids_current=800, pids_max=1000)])
    await store.add_result(sid, CollectorResult(
        "limits", Status.OK, parsed=lim.model_dump(mode="json"),
        artifacts=[Artifact(f"limits/{HOSTILE}.txt", HOSTILE.encode())],
        findings=[Finding(rule="THREAD_CEILING", severity=Severity.CRITICAL, title=HOSTILE,
                          hint=HOSTILE, subject=HOSTILE, evidence=[
                              CodeBlock(title=HOSTILE, text=f'"{HOSTILE}" #1 waiting'),
                              TableBlock(headers=[HOSTILE], rows=[[HOSTILE]])])]))
    net = NetworkSummary(states={"TIME-WAIT": 10}, total=10, time_wait=10, port_range=(32768, 60999),
                         top_time_wait_remotes=[Endpoint(endpoint=HOSTILE, count=10)])
    await store.add_result(sid, CollectorResult("network", Status.FAILED, error=HOSTILE,
                                                warnings=[HOSTILE],
                                                parsed=net.model_dump(mode="json")))
    await store.finish_snapshot(sid, error=HOSTILE)
    return sid


async def test_hostile_text_is_shown_escaped_never_as_markup(serve_pages, store):
    sid = await _hostile_snapshot(store)
    pages = await serve_pages()
    browser = await pages.client()
    r = await browser.get(pages.link(sid, ALICE))
    body = await r.text()
    assert r.status == 200, body
    assert "<script>alert" not in body and "<img" not in body
    escaped = "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;"
    # title, host, finding title, hint, code, table, process, cmdline, remote, error,
    # warning, file name... and the gauges' labels (SVG text, escaped by saxutils)
    assert body.count(escaped) >= 12, body.count(escaped)
    assert '&lt;script&gt;alert("x")&lt;/script&gt;' in body  # in the SVG (saxutils)
    # the raw file with that name: its link is percent-encoded, its page escapes it
    assert '/raw/limits/%3Cscript%3E' in body
    raw = await browser.get(f"/s/{sid}/raw/limits/{HOSTILE}.txt")
    text = await raw.text()
    assert raw.status == 200 and "<script>alert" not in text and escaped in text
    assert raw.headers["X-Content-Type-Options"] == "nosniff"
    assert raw.headers["Content-Security-Policy"].startswith("default-src 'self'")


async def test_raw_names_outside_the_snapshots_list_are_404(serve_pages, snapshot_id, store):
    from yarl import URL

    pages = await serve_pages()
    browser = await pages.client()
    await browser.get(pages.link(snapshot_id, ALICE))
    for name in ("jvm/", "jvm", "4242-dump1.txt", "..%2F..%2F..%2Fetc%2Fpasswd",
                 "%2E%2E/%2E%2E/etc/passwd", "jvm/../../../etc/passwd", "/etc/passwd"):
        url = URL(f"{browser.make_url('/')}s/{snapshot_id}/raw/{name}", encoded=True)
        r = await browser.session.get(url)
        body = await r.text()
        assert r.status == 404, (name, r.status)
        assert "root:" not in body
    r = await browser.get(f"/s/{snapshot_id}/raw/jvm/4242-dump9.txt")
    assert r.status == 404 and "has no raw file named jvm/4242-dump9.txt" in await r.text()


async def test_an_unknown_snapshot_is_a_clear_404(serve_pages, snapshot_id):
    pages = await serve_pages()
    browser = await pages.client()
    assert (await browser.get("/s/zzzz9999")).status == 401  # strangers learn nothing
    await browser.get(pages.link(snapshot_id, ALICE))
    r = await browser.get("/s/zzzz9999")
    body = await r.text()
    assert r.status == 404
    assert "No such snapshot" in body and "zzzz9999" in body
    assert (await browser.get("/s/not-an-id!")).status == 404


async def _host_snapshot(store, host: str = "web-07") -> str:
    """A host near its ceilings: cgroup pids.max at 95 %, TIME_WAIT to one
    backend holding most of the port range, two OOM kills."""
    from collectors.analysis.hostmodels import (
        CgroupPids,
        Endpoint,
        LimitsSummary,
        MemorySummary,
        NetworkSummary,
        OomKill,
        ProcessInfo,
        UserThreads,
    )
    from collectors.base import CollectorResult, Status

    sid = await store.create_snapshot(host, group="payments", trigger="alert",
                                      expected=["limits", "memory", "network", "jvm"])
    lim = LimitsSummary(threads_max=126_000, pid_max=4_194_304, visible_threads=31_000,
                        top=[ProcessInfo(pid=811, name="java", user="svc", uid=1001,
                                         threads=30_400, cmdline="java -jar app.jar")],
                        users=[UserThreads(user="svc", uid=1001, threads=30_500, processes=3,
                                           nproc_limit=32_768)],
                        cgroups=[CgroupPids(path="/system.slice/app", version=2,
                                            pids_current=30_400, pids_max=32_000)])
    mem = MemorySummary(mem_total_kb=16_000_000, mem_available_kb=800_000,
                        oom_kills_since_boot=2, oom_events=[
                            OomKill(pid=4711, process="java", when="Dec 4 22:10:01",
                                    line="Out of memory: Killed process 4711 (java)",
                                    age_s=3 * 3600 + 60),
                            OomKill(pid=99, process="node", earlier_boot=True,
                                    line="Out of memory: Killed process 99 (node)")])
    net = NetworkSummary(states={"TIME-WAIT": 25_000, "ESTAB": 300}, total=25_300,
                         time_wait=25_000, time_wait_ephemeral=24_900,
                         port_range=(32768, 60999),
                         top_time_wait_remotes=[Endpoint(endpoint="10.0.0.5:5432", count=24_000),
                                                Endpoint(endpoint="10.0.0.6:443", count=900)])
    for name, model, secs in (("limits", lim, 0.4), ("memory", mem, 0.2), ("network", net, 1.6)):
        await store.add_result(sid, CollectorResult(name, Status.OK, duration_s=secs,
                                                    parsed=model.model_dump(mode="json")))
    await store.add_result(sid, CollectorResult("jvm", Status.TIMEOUT, duration_s=10.0,
                                                error="timed out after 10s"))
    await store.finish_snapshot(sid, status="partial")
    return sid


async def test_the_page_shows_ceilings_tcp_oom_and_collectors(serve_pages, store):
    first = await _host_snapshot(store)
    sid = await _host_snapshot(store)
    pages = await serve_pages()
    browser = await pages.client()
    body = await (await browser.get(pages.link(sid, ALICE))).text()
    # the verdict first, with what is missing, as in Slack
    assert body.index("Evidence incomplete") < body.index("Findings")
    assert "<b>jvm</b>: timeout: timed out after 10s" in body
    assert "kill -QUIT" in body
    # ceilings as gauges, the nearest one coloured critical
    for label in ("threads vs threads-max", "threads vs pid_max",
                  "cgroup /system.slice/app pids.max", "user svc ulimit -u"):
        assert f'aria-label="{label}:' in body, label
    assert "30,400 / 32,000 (95 %)" in body and 'class="gauge-fill crit"' in body
    # TCP: TIME_WAIT per remote against the port range (28 232 ports)
    assert "24,900 / 28,232 (88 %)" in body  # the whole range's gauge
    assert "<td>10.0.0.5:5432</td><td class=\"n\">24,000</td><td class=\"n\">85.0 %</td>" in body
    # OOM kills with their ages
    assert "3 h ago" in body and "earlier boot" in body and "Killed process 4711" in body
    # collectors with status and timing
    assert '<tr class="st-timeout"><td>jvm</td><td>timeout</td><td class="n">10.00 s</td>' in body
    assert 'aria-label="network: 1.60 s"' in body
    # links: compare with the previous snapshot of the host, the host's timeline
    assert f'href="/compare/{first}/{sid}"' in body and 'href="/h/web-07"' in body
    assert "dump/" not in body  # no dumps in this one: no explorer link


async def test_a_stalled_database_is_a_503_page_within_the_timeout(pg_url):
    """PostgreSQL behind a proxy that stops answering (tests/faults/dbproxy.py)."""
    import time

    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer

    from bot.access.links import Signer
    from bot.app import App
    from bot.store.service import Store
    from tests.faults.dbproxy import DbProxy
    from tests.web.conftest import SECRET, settings_with, stored_snapshot

    proxy = await DbProxy().start()
    store = await Store.open(proxy.url(pg_url), timeout=2.0)
    try:
        sid = await stored_snapshot(store)
        settings = settings_with(store)
        settings.database_timeout = 2.0
        app = web.Application()
        signer = Signer(SECRET)
        from bot.web.pages import attach_pages

        attach_pages(app, App(settings, store), settings.web, signer=signer)
        async with TestClient(TestServer(app, host="127.0.0.1")) as browser:
            link = f"/s/{sid}?t={signer.link(sid, ALICE, 'C1', 3600)}"
            assert (await browser.get(link)).status == 200
            proxy.freeze_all()
            for page in (f"/s/{sid}", f"/compare/{sid}/{sid}", "/alerts"):
                t0 = time.monotonic()
                r = await browser.get(page)
                took = time.monotonic() - t0
                body = await r.text()
                assert r.status == 503, (page, body)
                assert "Database unavailable" in body and "Traceback" not in body
                assert took < 2.0 + 1.0 + 0.8, (page, took)  # database_timeout + grace
            proxy.resume()
            assert (await browser.get(f"/s/{sid}")).status == 200
    finally:
        proxy.resume()
        await store.close()
        await proxy.close()


async def test_a_hostile_thread_name_in_a_real_dump_is_text_on_the_page(serve_pages, store):
    """The real analysis names the deadlocked threads in its finding; a thread
    may be named anything by the application."""
    from tests.web.bigdumps import store_dumps
    from tests.web.conftest import corpus_jvm

    text = corpus_jvm().decode().replace('"transfer-1"', f'"{HOSTILE}"')
    sid = await store_dumps(store, "web-05", "payments", jvm=[text.encode()])
    pages = await serve_pages()
    body = await (await (await pages.client()).get(pages.link(sid, ALICE))).text()
    assert "JVM_DEADLOCK" in body
    assert "<script>alert" not in body and "<img" not in body
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in body


async def test_the_page_and_its_guard_on_sqlite_and_postgresql(serve_pages_any, any_store):
    from tests.web.conftest import BOB, stored_snapshot

    sid = await stored_snapshot(any_store)
    pages = await serve_pages_any()
    alice = await pages.client()
    r = await alice.get(pages.link(sid, ALICE))
    assert r.status == 200 and "JVM_DEADLOCK" in await r.text()
    assert (await alice.get(f"/s/{sid}/raw/jvm/4242-dump1.txt?download=1")).status == 200
    bob = await pages.client()
    await bob.get(pages.link(sid, BOB))
    assert (await bob.get(f"/s/{sid}/raw/jvm/4242-dump1.txt?download=1")).status == 403
    assert (await alice.get("/s/zzzz9999")).status == 404
    views = await any_store.audit_events(snapshot_id=sid, action="view")
    raws = await any_store.audit_events(snapshot_id=sid, action="view_raw")
    refused = await any_store.audit_events(action="refused")
    assert [v.actor for v in views] == [f"slack:{BOB}", f"slack:{ALICE}"]
    assert [v.actor for v in raws] == [f"slack:{ALICE}"]
    assert [r.actor for r in refused] == [f"slack:{BOB}"]
