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
