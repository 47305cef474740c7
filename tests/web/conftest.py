"""Shared fixtures for the pages (append-only: W1, W2 and W3 add theirs).

A stored snapshot with real dumps from the committed corpus, analysed by the
real stage and stored through the real Store (SQLite, and PostgreSQL where a
test asks for `any_store`); the pages served by a real aiohttp server on
127.0.0.1, reached with a real HTTP client (its own cookie jar per person)."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.access.links import OneTimeTokens, Signer
from bot.app import App
from bot.config import Settings
from bot.settings.slack import AuthzRule
from bot.settings.web import WebSettings
from bot.store.service import Store
from bot.web.pages import attach_pages
from tests.web.bigdumps import store_dumps

CORPUS = Path(__file__).resolve().parents[1] / "analysis" / "corpus"
#: the pages' signing secret in tests (32+ bytes, as [web] demands)
SECRET = b"test-secret-for-hostsnap-pages-0123456789"
#: Slack users of the tests: ALICE may see payments (raw files too) from C1,
#: BOB may see payments from C1 but no raw files, EVE nothing
ALICE, BOB, EVE = "UALICE1", "UBOB2", "UEVE3"
CHANNEL = "C1"


def corpus_jvm(name: str = "deadlock.jcmd") -> bytes:
    return gzip.decompress((CORPUS / "jvm" / "jdk17" / f"{name}.txt.gz").read_bytes())


def corpus_go(name: str = "mutex-aged.debug2") -> bytes:
    return (CORPUS / "go" / f"{name}.txt").read_bytes()


def rules() -> list[AuthzRule]:
    return [
        AuthzRule(groups=["payments"], channels=[CHANNEL], user_groups=[ALICE], raw_files=True),
        AuthzRule(groups=["payments"], channels=[CHANNEL], user_groups=[BOB]),
    ]


async def stored_snapshot(store: Store, host: str = "web-03", group: str = "payments",
                          requested_by: str = "UALICE1") -> str:
    """A finished snapshot of `host`: host limits, one JVM dump (a deadlock) and
    one Go dump (a mutex convoy) from the corpus, analysed as at capture time."""
    return await store_dumps(store, host, group, jvm=[corpus_jvm()], go=corpus_go(),
                             threads=240, requested_by=requested_by, trigger="slack")


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(f"sqlite+aiosqlite:///{tmp_path}/pages.db")
    yield s
    await s.close()


@pytest.fixture
async def any_store(db_url: str) -> AsyncIterator[Store]:
    """The same on SQLite and on PostgreSQL (the root conftest's db_url)."""
    s = await Store.open(db_url)
    yield s
    await s.close()


@pytest.fixture
async def snapshot_id(store: Store) -> str:
    return await stored_snapshot(store)


def settings_with(store: Store, authz: list[AuthzRule] | None = None, **web: Any
                  ) -> Settings:
    web.setdefault("base_url", "http://127.0.0.1")
    web.setdefault("secret_env", "HOSTSNAP_TEST_WEB_SECRET")
    return Settings(database_url=str(store.engine.url),
                    authz=rules() if authz is None else authz, web=WebSettings(**web))


Serve = Callable[..., Awaitable["Pages"]]


class Pages:
    """The pages on a real server; `client()` is one browser (own cookies)."""

    def __init__(self, server: TestServer, core: App, signer: Signer,
                 onetime: OneTimeTokens | None) -> None:
        self.server = server
        self.core = core
        self.signer = signer
        self.onetime = onetime
        self._clients: list[TestClient[Any, Any]] = []

    async def client(self) -> TestClient[Any, Any]:
        c: TestClient[Any, Any] = TestClient(self.server)
        await c.start_server()
        self._clients.append(c)
        return c

    def link(self, sid: str, user: str = ALICE, channel: str = CHANNEL,
             ttl: float = 3600.0) -> str:
        """What the Open in browser button hands `user`: /s/<id>?t=…"""
        return f"/s/{sid}?t={self.signer.link(sid, user, channel, ttl)}"

    async def close(self) -> None:
        for c in self._clients:
            await c.close()
        await self.server.close()


@asynccontextmanager
async def pages_on(store: Store) -> AsyncIterator[Serve]:
    """start(**web settings, onetime=False, authz=[rules]) -> Pages on 127.0.0.1,
    over `store`; every server started is closed at the end."""
    started: list[Pages] = []

    async def start(*, onetime: bool = False, signer: Signer | None = None,
                    authz: list[AuthzRule] | None = None, **web_settings: Any) -> Pages:
        settings = settings_with(store, authz, **web_settings)
        core = App(settings, store)
        app = web.Application()
        tokens = OneTimeTokens() if onetime else None
        signer = signer or Signer(SECRET)
        attach_pages(app, core, settings.web, signer=signer, onetime=tokens)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        p = Pages(server, core, signer, tokens)
        started.append(p)
        return p

    try:
        yield start
    finally:
        for p in started:
            await p.close()


@pytest.fixture
async def serve_pages(store: Store) -> AsyncIterator[Serve]:
    """serve_pages(**web settings, onetime=False, authz=[rules]) -> Pages on 127.0.0.1."""
    async with pages_on(store) as start:
        yield start


@pytest.fixture
async def serve_pages_any(any_store: Store) -> AsyncIterator[Serve]:
    """The same over SQLite and over PostgreSQL."""
    async with pages_on(any_store) as start:
        yield start
