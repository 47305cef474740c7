"""Real-browser fixtures: Debian's Chromium (/usr/bin/chromium) driven by
Playwright for Python (its async API: the suite runs on pytest-asyncio's
session loop), opening the pages as a person does: a signed link, as the
Slack button hands out, sets the session cookie; then clicks.

- `chromium`: one headless browser for the session. Playwright gives it a
  fresh temporary profile (user-data-dir) of its own, and each test a fresh
  context (no cookie or storage from another test).
- `site`: the pages (the real aiohttp app with attach_pages) on 127.0.0.1
  over a real SQLite store holding snapshots made from the committed dump
  corpus, analyzed by the real stage (tests/web/bigdumps.store_dumps).
- `tab`: a page in a fresh context that fails its test on any console error,
  page error, failed request, dialog or HTTP status >= 400 the test did not
  announce with `tab.allow(status, url_part)`.

Without Chromium or Playwright the tests skip on a laptop and fail in CI
(HOSTSNAP_REQUIRE_ALL_TESTS=1): scripts/setup.sh installs both.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import re
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import update

from bot.alerts.ledger import Ledger
from bot.alerts.payloads import Alert
from bot.app import App
from bot.config import HostEntry, Settings
from bot.settings.slack import AuthzRule
from bot.settings.web import WebSettings
from bot.store.ids import ALPHABET, LENGTH
from bot.store.models import AlertRow, SnapshotRow
from bot.store.service import Store
from collectors.analysis.hostmodels import Endpoint, MemorySummary, NetworkSummary
from collectors.base import CollectorResult, Status
from tests.conftest import skip_or_fail
from tests.web.bigdumps import CORPUS, store_dumps

CHROMIUM = Path("/usr/bin/chromium")
#: no sandbox (root in CI), no GPU, nothing fetched from the internet by the browser itself
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
#: ms any one browser action or wait may take
ACTION_TIMEOUT_MS = 15_000

#: who the tests are: U1 may see group `payments` (raw files too); U2 may see
#: nothing; nobody in this test config may see group `vault`
VIEWER = "U1"
STRANGER = "U2"
CHANNEL = "C1"
#: a thread name a hostile workload could choose: shown as text, never run
HOSTILE_NAME = "<script>alert('xss')</script><img src=x onerror=alert(1)>"


async def launch_chromium(pw: Any) -> Any:
    """Debian's Chromium as the tests, the screenshots and the benchmark use it."""
    return await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                    args=CHROMIUM_ARGS, timeout=60_000)


@pytest.fixture(scope="session")
async def chromium() -> AsyncIterator[Any]:
    if not CHROMIUM.exists():
        skip_or_fail(f"{CHROMIUM} not installed (scripts/setup.sh installs Debian's chromium)")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        skip_or_fail("playwright not installed (pip install -e '.[test]')")
    pw = await async_playwright().start()
    try:
        browser = await launch_chromium(pw)
    except Exception as e:
        await pw.stop()
        skip_or_fail(f"Chromium does not start: {e}")
    yield browser
    await browser.close()
    await pw.stop()


def corpus_jvm(name: str) -> bytes:
    return gzip.decompress((CORPUS / "jvm" / "jdk17" / f"{name}.txt.gz").read_bytes())


def with_hostile_name(dump: bytes) -> bytes:
    """The dump with its first `pool-…` thread renamed to HOSTILE_NAME."""
    text = dump.decode()
    renamed = re.sub(r'^"pool-\d+-thread-\d+"', lambda m: f'"{HOSTILE_NAME}"', text,
                     count=1, flags=re.M)
    assert renamed != text
    return renamed.encode()


@dataclass
class Site:
    """The pages being served, and what is stored behind them."""

    url: str
    core: App
    state: Any  # bot.web.pages.state.Pages
    #: snapshot ids by role (seed())
    ids: dict[str, str] = field(default_factory=dict)
    fleet: list[str] = field(default_factory=list)

    def link(self, sid: str, user: str = VIEWER, channel: str = CHANNEL,
             ttl: float = 3600.0) -> str:
        """A signed link to snapshot `sid`, as the Open in browser button hands it out."""
        token = self.state.signer.link(sid, user, channel, ttl)
        return f"{self.url}/s/{sid}?t={token}"


#: the inventory: which group each host is in (the alerts page asks it)
INVENTORY = [("web-03", "payments"), ("go-01", "payments"), ("db-07", "vault"),
             *((f"web-{i}", "payments") for i in range(11, 16))]


def site_settings(db_url: str) -> Settings:
    return Settings(database_url=db_url, authz=[
        AuthzRule(groups=["payments"], channels=["*"], user_groups=[VIEWER], raw_files=True),
    ], hosts=[HostEntry(name=h, address="127.0.0.1", group=g) for h, g in INVENTORY],
        web=WebSettings())


async def host_numbers(store: Store, sid: str, *, time_wait: int, mem_used_pct: float,
                       days_ago: float) -> None:
    """TIME_WAIT and memory as a capture's network and memory collectors store
    them, and the snapshot dated `days_ago` (a host's history)."""
    total = 16_000_000
    await store.add_result(sid, CollectorResult("network", Status.OK, parsed=NetworkSummary(
        states={"ESTAB": 120, "TIME-WAIT": time_wait}, total=time_wait + 120,
        time_wait=time_wait, time_wait_ephemeral=time_wait, port_range=(32768, 60999),
        top_time_wait_remotes=[Endpoint(endpoint="10.20.0.15:5432", count=time_wait * 3 // 4),
                               Endpoint(endpoint="10.20.0.16:8443", count=time_wait // 4)],
    ).model_dump(mode="json")))
    await store.add_result(sid, CollectorResult("memory", Status.OK, parsed=MemorySummary(
        mem_total_kb=total, mem_available_kb=int(total * (1 - mem_used_pct / 100)),
        swap_total_kb=0, swap_free_kb=0, oom_kills_since_boot=0,
    ).model_dump(mode="json")))
    async with store.sessions.begin() as s:
        await s.execute(update(SnapshotRow).where(SnapshotRow.id == sid).values(
            created_at=datetime.now(UTC) - timedelta(days=days_ago)))


async def seed_alerts(store: Store, ids: dict[str, str]) -> None:
    """Alerts as the webhook leaves them, one per outcome a person meets."""
    ledger = Ledger(store)
    sent = [("ThreadsHigh", "web-03", "captured", "snapshot taken", ids["newer"]),
            ("GoroutinesHigh", "go-01", "captured", "snapshot taken", ids["go"]),
            ("ThreadsHigh", "web-03", "covered", "a capture of web-03 ran 40 s ago", None),
            ("DiskFull", "db-07", "captured", "snapshot taken", ids["vault"]),
            ("NodeDown", "web-99", "unknown_host", "instance=web-99: not in the inventory",
             None)]
    await ledger.record([Alert(
        receiver="alertmanager", status="firing", fingerprint=f"fp{i}", starts_raw=f"t{i}",
        starts_at=None, ends_at=None, labels={"alertname": name, "instance": f"{host}:9100"})
        for i, (name, host, *_) in enumerate(sent)])
    rows = {r.fingerprint: r for r in await ledger.rows()}
    for i, (_, host, outcome, detail, sid) in enumerate(sent):
        row = rows[f"fp{i}"]
        async with store.sessions.begin() as s:
            await s.execute(update(AlertRow).where(AlertRow.id == row.id).values(host=host))
        await ledger.set_outcome(row.id, outcome, detail)
        if sid:
            await ledger.set_snapshot(row.id, sid)


async def seed(store: Store, fixed_ids: bool = False) -> tuple[dict[str, str], list[str]]:
    """The snapshots the browser tests (and the screenshots) look at, the same
    every run (`fixed_ids`: their ids too). web-03 leaks executors over a
    week; the newer web-03 snapshot has HOSTILE_NAME in its second dump."""
    def sid(name: str) -> str | None:
        if not fixed_ids:
            return None
        digest = hashlib.sha256(name.encode()).digest()
        return "".join(ALPHABET[b % len(ALPHABET)] for b in digest[:LENGTH])

    ids: dict[str, str] = {}
    for days, threads in ((6, 120), (4, 150), (2, 180)):
        x = await store_dumps(store, "web-03", "payments", threads=threads,
                              snapshot_id=sid(f"w{days}"))
        await host_numbers(store, x, time_wait=900 + 500 * (6 - days),
                           mem_used_pct=40 + 3 * (6 - days), days_ago=days)
    ids["older"] = await store_dumps(store, "web-03", "payments", threads=213,
                                     jvm=[corpus_jvm("executor.1.jcmd")],
                                     snapshot_id=sid("older"))
    await host_numbers(store, ids["older"], time_wait=3400, mem_used_pct=55, days_ago=1)
    ids["newer"] = await store_dumps(
        store, "web-03", "payments", threads=448, snapshot_id=sid("newer"),
        jvm=[corpus_jvm("executor.1.jcmd"), with_hostile_name(corpus_jvm("executor.2.jcmd"))])
    await host_numbers(store, ids["newer"], time_wait=4100, mem_used_pct=58, days_ago=0)
    go = (CORPUS / "go" / "chanleak-aged.debug2.txt").read_bytes()
    ids["go"] = await store_dumps(store, "go-01", "payments", go=go, threads=505,
                                  snapshot_id=sid("go"))
    ids["vault"] = await store_dumps(store, "db-07", "vault", threads=57,
                                     jvm=[corpus_jvm("lock-convoy.jcmd")],
                                     snapshot_id=sid("vault"))
    fleet = []
    for i in range(11, 16):  # a capture of five hosts; web-14 stands out
        x = await store_dumps(store, f"web-{i}", "payments", threads=4000 if i == 14 else 300,
                              snapshot_id=sid(f"fleet{i}"))
        await host_numbers(store, x, time_wait=800 + 10 * i, mem_used_pct=40 + i,
                           days_ago=0)
        fleet.append(x)
    await seed_alerts(store, ids)
    return ids, fleet


async def start_pages(core: App, settings: WebSettings) -> tuple[web.AppRunner, str, Any]:
    """The real aiohttp app with the pages on 127.0.0.1 (a free port)."""
    from bot.access.links import Signer
    from bot.web.pages import attach_pages

    app = web.Application()
    state = attach_pages(app, core, settings, signer=Signer(secrets.token_bytes(32)))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}", state


@pytest.fixture(scope="session")
async def site(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Site]:
    db = tmp_path_factory.mktemp("pages") / "hostsnap.db"
    settings = site_settings(f"sqlite+aiosqlite:///{db}")
    core = await App.open(settings)
    ids, fleet = await seed(core.store)
    runner, url, state = await start_pages(core, settings.web)
    yield Site(url, core, state, ids, fleet)
    await runner.cleanup()
    await core.close()


@dataclass
class Tab:
    """One browser page, watched: everything that goes wrong on it is a problem."""

    page: Any  # playwright.async_api.Page
    context: Any  # its BrowserContext
    site: Site
    problems: list[str] = field(default_factory=list)
    allowed: list[tuple[int, str]] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    downloads: list[str] = field(default_factory=list)

    def allow(self, status: int, url_part: str) -> None:
        """A response of `status` for a URL containing `url_part` is what the test expects."""
        self.allowed.append((status, url_part))

    def allow_download(self, url_part: str) -> None:
        """A navigation to a URL containing `url_part` becomes a download:
        Chromium then aborts the navigation (net::ERR_ABORTED), as it must."""
        self.downloads.append(url_part)

    def _expected(self, status: int, url: str) -> bool:
        return any(status == s and part in url for s, part in self.allowed)

    def watch(self) -> None:
        p = self.page

        def on_console(msg: Any) -> None:
            if msg.type not in ("error", "assert"):
                return
            where = (msg.location or {}).get("url", "")
            # Chromium logs every 4xx/5xx resource as a console error too
            failed = re.match(r"Failed to load resource: the server responded with a status "
                              r"of (\d+)", msg.text)
            if failed and self._expected(int(failed[1]), where):
                return
            self.problems.append(f"console {msg.type}: {msg.text} ({where})")

        def on_response(r: Any) -> None:
            if r.status >= 400 and not self._expected(r.status, r.url):
                self.problems.append(f"HTTP {r.status} {r.request.method} {r.url}")

        async def on_dialog(d: Any) -> None:
            self.dialogs.append(f"{d.type}: {d.message}")
            self.problems.append(f"a {d.type} dialog opened: {d.message!r}")
            await d.dismiss()

        p.on("console", on_console)
        p.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        def on_failed(r: Any) -> None:
            if r.failure == "net::ERR_ABORTED" and any(d in r.url for d in self.downloads):
                return
            self.problems.append(f"request failed: {r.method} {r.url}: {r.failure}")

        p.on("requestfailed", on_failed)
        p.on("response", on_response)
        p.on("dialog", on_dialog)

    async def sign_in(self, sid: str | None = None, user: str = VIEWER) -> Any:
        """Open the signed link to `sid` (default: the newer web-03 snapshot) as
        `user`; the session cookie it sets signs in the rest of the visit."""
        sid = sid or self.site.ids["newer"]
        return await self.page.goto(self.site.link(sid, user))

    async def open(self, path: str) -> Any:
        response = await self.page.goto(self.site.url + path)
        await self.page.wait_for_load_state("load")
        return response

    async def settle(self) -> None:
        """Until the network is quiet (fragments loaded on demand have arrived)."""
        await self.page.wait_for_load_state("networkidle")

    def assert_clean(self) -> None:
        assert not self.problems, "the browser saw problems:\n" + "\n".join(self.problems)


@pytest.fixture
async def tab(chromium: Any, site: Site) -> AsyncIterator[Tab]:
    context = await chromium.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    page = await context.new_page()
    t = Tab(page, context, site)
    t.watch()
    yield t
    # events still on their way (a console error after the last click) count too
    await asyncio.sleep(0.05)
    await context.close()
    t.assert_clean()
