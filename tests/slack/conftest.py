"""Fixtures for Slack end-to-end tests: a fake Slack, a store, and the bot
running as `hostsnap serve` runs it (HTTP mode unless a test asks for Socket
Mode), pointed at the fake."""

from __future__ import annotations

import asyncio
import gc
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.config import CaptureSettings, HostEntry, Settings
from bot.settings.slack import AuthzRule, SlackSettings
from bot.slack.serve import Running, SlackService, settle_heap
from bot.store.service import Store
from tests.fakeslack import APP_TOKEN, BOT_TOKEN, SIGNING_SECRET, FakeSlack, Msg

HOST_COLLECTORS = ["limits", "memory", "network"]
SNAPSHOT_ID = re.compile(r"snapshot `([a-z0-9]{8})`")


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    f = await FakeSlack().start()
    yield f
    await f.close()


def make_settings(fake: FakeSlack, db_url: str, *, mode: str = "http",
                  authz: list[AuthzRule] | None = None,
                  collectors: list[str] | None = None,
                  settings: dict[str, Any] | None = None, **slack: Any) -> Settings:
    """Settings for a bot talking to `fake`; `settings`: other top-level fields
    (hosts, ssh), `slack`: [slack] fields."""
    opts: dict[str, Any] = dict(
        bot_token=BOT_TOKEN, app_token=APP_TOKEN, signing_secret=SIGNING_SECRET, mode=mode,
        api_base_url=fake.base_url, http_host="127.0.0.1", http_port=0,
        # fast but still coalescing: the pacing logic runs, the tests stay quick
        update_interval=0.3, post_interval=0.0, retry_interval=0.2, usergroup_cache_s=60.0,
    )
    opts.update(slack)
    return Settings(
        database_url=db_url, slack=SlackSettings(**opts),
        authz=authz if authz is not None else [AuthzRule(groups=["*"], channels=["*"], user_groups=["*"], raw_files=True)],
        # `localhost` (this machine, no SSH) with the host collectors: fast and always
        # there (the JVM/Go/docker collectors have their own tests)
        capture=CaptureSettings(collectors=collectors or HOST_COLLECTORS),
        **(settings or {}),
    )


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path}/hostsnap.db"


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[Store]:
    s = await Store.open(db_url)
    yield s
    await s.close()


class BotUnderTest:
    """The running service plus the fake it talks to."""

    def __init__(self, fake: FakeSlack, store: Store) -> None:
        self.fake = fake
        self.store = store
        self.service: SlackService | None = None

    async def start(self, settings: Settings) -> Running:
        self.service = SlackService(settings, self.store)
        r = await self.service.start()
        # as `serve` does once started: the test process's heap (every test
        # so far) is left out of the cyclic GC, or a full collection stops
        # the loop for 100-400 ms in the middle of a latency assertion
        settle_heap()
        self.fake.events_url = f"http://127.0.0.1:{r.port}/slack/events"
        if settings.slack.mode == "socket":
            await self.fake.wait_socket()
        return r

    @property
    def running(self) -> Running:
        assert self.service is not None and self.service.running is not None
        return self.service.running

    async def idle(self) -> None:
        """Until every request sent so far is answered. An ack can reach the
        fake before Bolt has started the listener (events are acked first), so
        wait for a quiet spell, not just for the tasks known right now."""
        quiet = 0
        while quiet < 3:
            await asyncio.sleep(0.02)
            if self.running.bot.busy:
                await self.running.bot.idle()
                quiet = 0
            else:
                quiet += 1

    async def stop(self) -> None:
        if self.service is not None:
            await self.service.stop()
        gc.unfreeze()  # the next test's garbage is collected as usual


@pytest.fixture
async def bot_factory(fake: FakeSlack, store: Store, db_url: str
                      ) -> AsyncIterator[Any]:
    """start(**slack_settings) -> BotUnderTest, stopped after the test."""
    started: list[BotUnderTest] = []

    async def start(*, authz: list[AuthzRule] | None = None, mode: str = "http",
                    collectors: list[str] | None = None,
                    settings: dict[str, Any] | None = None, **slack: Any) -> BotUnderTest:
        b = BotUnderTest(fake, store)
        await b.start(make_settings(fake, db_url, mode=mode, authz=authz,
                                    collectors=collectors, settings=settings, **slack))
        started.append(b)
        return b

    yield start
    for b in started:
        await b.stop()


@pytest.fixture
async def bot(bot_factory: Any) -> BotUnderTest:
    return await bot_factory()


async def summary_of(fake: FakeSlack, host: str = "localhost", channel: str = "C1",
                     thread_ts: str | None = None, timeout: float = 15.0,
                     skip: tuple[Msg, ...] = ()) -> tuple[Msg, str]:
    """The bot's message about `host` once it shows the capture's result, and the
    snapshot id it names (`skip`: messages already seen)."""
    def find() -> Msg | None:
        for m in fake.bot_messages(channel):
            if m in skip:
                continue
            if m.thread_ts == thread_ts and f"*{host}* — snapshot" in m.all_text:
                return m
        return None

    m = await fake.wait_for(find, timeout, f"summary of {host}")
    found = SNAPSHOT_ID.search(m.all_text)
    assert found, m.all_text
    return m, found.group(1)


def lab_entry(h: Any, group: str = "lab") -> HostEntry:
    """The inventory entry of a lab host (tests/lab), as a user would write it."""
    return HostEntry(name=h.name, address=h.address, port=h.port, user=h.user,
                     key_file=str(h.key_file), known_hosts=str(h.known_hosts_file),
                     group=group)
