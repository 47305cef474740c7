"""Pages speed (issue 15): a snapshot with a 30 000-thread JVM dump and a
100 000-goroutine dump (tests/web/bigdumps.py: copies of the committed
corpus, analysed by the real stage, stored through the real Store on SQLite),
served by the real pages (attach_pages) in a process of its own.

1. Server time per page, as a client on loopback sees it (request sent ->
   whole body read): the snapshot page, each dump's explorer cold (first view
   after the server started: the dump is parsed then) and warm, a stack
   group's fragment, a search. Median over --runs (cold: one, in a fresh
   server process each).
2. Debian's Chromium (Playwright) opening the same pages: the load event
   (navigation start -> loadEventEnd) and the bytes transferred (navigation
   and every resource, Performance API transferSize) at the load event.

Targets: <= 300 ms server, <= 1.5 s load, <= 2 MB. It prints figures and
asserts nothing.

    .venv/bin/python benchmarks/bench_web.py
    .venv/bin/python benchmarks/bench_web.py --threads 30000 --goroutines 100000 --runs 5
    .venv/bin/python benchmarks/bench_web.py --profile /tmp/pages.prof   # cProfile of the server
    BENCH_GC_LOG=1 .venv/bin/python benchmarks/bench_web.py   # the server's GC pauses >= 20 ms
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import secrets
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp

from bot.settings.slack import AuthzRule

USER, CHANNEL = "UBENCH1", "CBENCH"
TARGET_SERVER_MS, TARGET_LOAD_MS, TARGET_BYTES = 300, 1500, 2_000_000
SECRET_ENV = "HOSTSNAP_BENCH_WEB_SECRET"


# -- the server process ---------------------------------------------------------------
def _settings(db_url: str) -> Any:
    from bot.config import Settings
    from bot.settings.web import WebSettings

    return Settings(database_url=db_url, web=WebSettings(), authz=[
        AuthzRule(groups=["*"], channels=["*"], user_groups=[USER], raw_files=True)])


async def _serve(db_url: str) -> None:
    """Run as `--serve DB_URL`: the pages on 127.0.0.1, the port printed once up."""
    from aiohttp import web

    from bot.access.links import Signer
    from bot.app import App
    from bot.web.pages import attach_pages

    if os.environ.get("BENCH_GC_LOG"):
        _log_gc_pauses()
    settings = _settings(db_url)
    core = await App.open(settings)
    app = web.Application()
    attach_pages(app, core, settings.web, signer=Signer(os.environ[SECRET_ENV].encode()))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(site._server.sockets[0].getsockname()[1], flush=True)  # type: ignore[union-attr]
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await runner.cleanup()
    await core.close()


def _log_gc_pauses(threshold_ms: float = 20.0) -> None:
    """The cyclic GC's pauses over `threshold_ms`, on stderr: a parsed 30 000-thread
    dump is millions of objects, and a full collection walks them all."""
    import gc

    started: list[float] = []

    def cb(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started[:] = [time.perf_counter()]
        elif started:
            ms = (time.perf_counter() - started[0]) * 1000
            if ms >= threshold_ms:
                print(f"gc: generation {info['generation']} pause {ms:.0f} ms "
                      f"({info['collected']} collected)", file=sys.stderr, flush=True)

    gc.callbacks.append(cb)


class ServerProcess:
    def __init__(self, db_url: str, secret: str, profile: str | None) -> None:
        self.db_url, self.secret, self.profile = db_url, secret, profile
        self.proc: asyncio.subprocess.Process | None = None
        self.url = ""

    async def __aenter__(self) -> ServerProcess:
        prof = ["-m", "cProfile", "-o", self.profile] if self.profile else []
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, *prof, __file__, "--serve", self.db_url,
            env={**os.environ, SECRET_ENV: self.secret}, stdout=asyncio.subprocess.PIPE)
        assert self.proc.stdout is not None
        port = int((await asyncio.wait_for(self.proc.stdout.readline(), 60)).strip())
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)  # cProfile writes its file on a clean exit
            await asyncio.wait_for(self.proc.wait(), 30)


# -- the client ------------------------------------------------------------------------
@dataclass
class Pages:
    """The URLs measured, found on the pages themselves (as a person follows them)."""

    snapshot: str
    explorers: list[str] = field(default_factory=list)
    #: per explorer: "jvm" or "go" (from the raw file's name the snapshot page links)
    kinds: dict[str, str] = field(default_factory=dict)
    #: per explorer: its first (biggest) group's fragment, and searches
    groups: dict[str, str] = field(default_factory=dict)
    searches: dict[str, list[str]] = field(default_factory=dict)


def link(secret: str, sid: str, path: str | None = None) -> str:
    """A signed link to snapshot `sid` (its page, or `path` under it: the token
    opens any page of that snapshot)."""
    from bot.access.links import Signer

    token = Signer(secret.encode()).link(sid, USER, CHANNEL, 3600)
    return f"{path or f'/s/{sid}'}?t={token}"


async def get(session: aiohttp.ClientSession, url: str) -> tuple[float, str, int]:
    t0 = time.perf_counter()
    async with session.get(url) as r:
        body = await r.read()
        ms = (time.perf_counter() - t0) * 1000
        if r.status != 200:
            raise RuntimeError(f"GET {url}: HTTP {r.status}: {body[:300]!r}")
    return ms, body.decode(errors="replace"), len(body)


async def signed_in(base: str, secret: str, sid: str) -> aiohttp.ClientSession:
    # an IP address host: the cookie jar must be told to keep its cookies
    s = aiohttp.ClientSession(base, cookie_jar=aiohttp.CookieJar(unsafe=True))
    await get(s, link(secret, sid))
    return s


SEARCH_TERMS = {
    "jvm": ["Connection evictor", "IdleConnectionEvictor", "0x00000001fbd298e8"],
    "go": ["awaitQuote", "sync.(*Mutex).Lock", "0xc00008aee0"],
}


def discover(sid: str, snapshot_html: str) -> Pages:
    p = Pages(f"/s/{sid}")
    for url, name in re.findall(rf'href="(/s/{sid}/dump/\d+)">([^<]+)</a>', snapshot_html):
        if url not in p.kinds:
            p.explorers.append(url)
            p.kinds[url] = "go" if unescape(name).startswith("goroutines/") else "jvm"
    return p


def first_group(html: str, explorer: str) -> str | None:
    """The first (biggest) stack group's fragment on an explorer page."""
    srcs = [unescape(s) for s in re.findall(r'data-src="([^"]+)"', html)]
    return next((s for s in srcs if s.startswith(f"{explorer}/group/")), None)


async def server_times(srv: ServerProcess, secret: str, sid: str, runs: int,
                       out: dict[str, Any]) -> Pages:
    s = aiohttp.ClientSession(srv.url, cookie_jar=aiohttp.CookieJar(unsafe=True))
    try:
        # the signed link is the snapshot page (and signs the client in)
        ms, html, size = await get(s, link(secret, sid))
        out["snapshot page, first after start"] = (ms, size)
        pages = discover(sid, html)
        if not pages.explorers:
            print("  no dump explorer links on the snapshot page: explorer not measured")
        # right after the snapshot page (which starts parsing the dumps in the
        # background): what someone who clicks at once waits
        for e in pages.explorers:
            ms, html, size = await get(s, e)
            out[f"explorer {e.rsplit('/', 1)[1]} right after the page"] = (ms, size)
            group = first_group(html, e)
            if group:
                pages.groups[e] = group
            pages.searches[e] = [f"{e}/search?q={quote(q)}" for q in SEARCH_TERMS[pages.kinds[e]]]
        for name, url in [("snapshot page", f"/s/{sid}"), *[
                (f"explorer {e.rsplit('/', 1)[1]} warm", e) for e in pages.explorers], *[
                (f"group fragment {e.rsplit('/', 1)[1]}", g) for e, g in pages.groups.items()], *[
                (f"search {e.rsplit('/', 1)[1]} {unquote(q.split('q=')[1])[:24]}", q)
                for e, qs in pages.searches.items() for q in qs]]:
            times, size = [], 0
            for _ in range(runs):
                ms, _, size = await get(s, url)
                times.append(ms)
            out[name] = (statistics.median(times), size, min(times), max(times))
        return pages
    finally:
        await s.close()


async def first_views(db_url: str, secret: str, sid: str, explorers: list[str],
                      out: dict[str, Any]) -> None:
    """Each explorer of a snapshot nobody has opened, straight from a link, on
    a fresh server (nothing parsed or kept yet); then again on another fresh
    server (what a restart or another replica finds)."""
    for label in ("first view ever", "first view after a restart"):
        for e in explorers:
            async with ServerProcess(db_url, secret, None) as srv:
                s = aiohttp.ClientSession(srv.url, cookie_jar=aiohttp.CookieJar(unsafe=True))
                try:
                    ms, _, size = await get(s, link(secret, sid, e))
                finally:
                    await s.close()
            out[f"explorer {e.rsplit('/', 1)[1]}, {label}"] = (ms, size)


def under(sid: str, pages: Pages) -> list[str]:
    """The explorers of snapshot `sid` (made the same way: the same numbers)."""
    return [f"/s/{sid}/dump/{e.rsplit('/', 1)[1]}" for e in pages.explorers]


async def browser_times(base: str, secret: str, sid: str, explorers: list[str],
                        out: dict[str, Any]) -> None:
    from playwright.async_api import async_playwright

    from tests.web.browser.conftest import launch_chromium

    async with async_playwright() as pw:
        browser = await launch_chromium(pw)
        try:
            ctx = await browser.new_context(viewport={"width": 1280, "height": 900})
            page = await ctx.new_page()
            # the signed link is the snapshot page itself (and signs the context in)
            for name, url in [("snapshot page", link(secret, sid)),
                              *[(f"explorer {e.rsplit('/', 1)[1]}", e) for e in explorers]]:
                await page.goto(base + url, wait_until="load", timeout=60_000)
                m = await page.evaluate("""() => {
                    const nav = performance.getEntriesByType('navigation')[0];
                    const res = performance.getEntriesByType('resource');
                    return {load: nav.loadEventEnd - nav.startTime,
                            bytes: nav.transferSize + res.reduce((a, r) => a + r.transferSize, 0),
                            dom: nav.domContentLoadedEventEnd - nav.startTime,
                            resources: res.length};
                }""")
                out[name] = m
            await ctx.close()
        finally:
            await browser.close()


def verdict(value: float, target: float) -> str:
    return "met" if value <= target else "NOT MET"


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=30_000)
    ap.add_argument("--goroutines", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=5, help="warm requests per URL (median)")
    ap.add_argument("--profile", help="write the server's cProfile stats here")
    ap.add_argument("--no-browser", action="store_true")
    a = ap.parse_args()

    from bot.store.service import Store
    from tests.web.bigdumps import store_big_snapshot

    secret = secrets.token_hex(32)
    with tempfile.TemporaryDirectory(prefix="bench-web-") as d:
        db_url = f"sqlite+aiosqlite:///{d}/hostsnap.db"
        t0 = time.perf_counter()
        store = await Store.open(db_url)
        # three alike: the page flow, first views by link, first views in Chromium
        sid, sid_link, sid_browser = [
            await store_big_snapshot(store, threads=a.threads, goroutines=a.goroutines)
            for _ in range(3 if not a.no_browser else 2)] + ([""] if a.no_browser else [])
        view = await store.get_snapshot(sid)
        await store.close()
        raw = sum(x.size for x in view.artifacts)
        print(f"snapshot {sid}: {a.threads} JVM threads, {a.goroutines} goroutines, "
              f"{len(view.finding_list)} findings, raw files {raw / 1e6:.1f} MB; "
              f"made and stored (x{3 - a.no_browser}) in {time.perf_counter() - t0:.1f} s")

        server: dict[str, Any] = {}
        async with ServerProcess(db_url, secret, a.profile) as srv:
            pages = await server_times(srv, secret, sid, a.runs, server)
        await first_views(db_url, secret, sid_link, under(sid_link, pages), server)
        print(f"\n## server time per page (loopback client; median of {a.runs} for the "
              f"repeated ones; a fresh server for each first view)")
        for name, v in server.items():
            ms, size = v[0], v[1]
            spread = f" (min {v[2]:.0f}, max {v[3]:.0f})" if len(v) > 2 else ""
            print(f"{name:50s} {ms:8.1f} ms{spread:22s} {size / 1000:8.1f} kB  "
                  f"{verdict(ms, TARGET_SERVER_MS)}")

        if not a.no_browser:
            # warm: the page-flow snapshot, its dumps seen; fresh: a snapshot
            # nobody opened, on a fresh server (its page, then each explorer)
            for label, target in (("warm server, dumps seen", sid),
                                  ("fresh server, a snapshot nobody opened", sid_browser)):
                browser: dict[str, Any] = {}
                async with ServerProcess(db_url, secret, None) as srv:
                    await browser_times(srv.url, secret, target, under(target, pages),
                                        browser)
                print(f"\n## Chromium, {label}: load event and bytes transferred at load")
                for name, m in browser.items():
                    print(f"{name:30s} load {m['load']:7.0f} ms (DOMContentLoaded "
                          f"{m['dom']:5.0f})  {m['bytes'] / 1000:8.1f} kB in "
                          f"{m['resources'] + 1} requests  "
                          f"load {verdict(m['load'], TARGET_LOAD_MS)}, "
                          f"bytes {verdict(m['bytes'], TARGET_BYTES)}")
        if a.profile:
            print(f"\nserver profile: {a.profile} (python -m pstats {a.profile})")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--serve":
        asyncio.run(_serve(sys.argv[2]))
    else:
        asyncio.run(main())
