"""Alert tests run the bot as `hostsnap serve` runs it (SlackService, talking
to the fake Slack of tests/fakeslack) and post webhooks to its HTTP server.
A `replica` has its own database engine, as a second bot process would."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select

from bot.alerts.service import AlertService
from bot.config import HostEntry
from bot.settings.alerts import AlertSettings
from bot.store.models import AlertRow
from bot.store.service import Store
from bot.web.alerts import ALERTS
from tests.alerts.senders import COLLECTORS, Sender, alert_settings
from tests.fakeslack import FakeSlack
from tests.slack.conftest import BotUnderTest, db_url, fake, make_settings  # noqa: F401

#: an inventory host nothing listens for: its capture fails at once (refused)
DEAD = HostEntry(name="dead-01", address="127.0.0.1", port=1, group="dead")


class Replica(BotUnderTest):
    send: Sender

    @property
    def alerts(self) -> AlertService:
        return self.running.runner.app[ALERTS]

    async def alert_rows(self, **where: Any) -> list[AlertRow]:
        return await self.alerts.ledger.rows(**where)

    async def snapshots(self) -> int:
        return await self.store.count_snapshots()


async def count_alerts(store: Store) -> int:
    async with store.sessions() as s:
        return int(await s.scalar(select(func.count()).select_from(AlertRow)) or 0)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100)) as s:
        yield s


@pytest.fixture
async def replicas(fake: FakeSlack, db_url: str, http: aiohttp.ClientSession  # noqa: F811
                   ) -> AsyncIterator[Any]:
    """start(alerts=..., settings=..., **slack) -> a running Replica."""
    started: list[Replica] = []

    async def start(alerts: AlertSettings | None = None, *, mode: str = "http",
                    settings: dict[str, Any] | None = None, **slack: Any) -> Replica:
        store = await Store.open(db_url)
        r = Replica(fake, store)
        started.append(r)
        opts = {"alerts": alerts or alert_settings(), **(settings or {})}
        await r.start(make_settings(fake, db_url, mode=mode, collectors=COLLECTORS,
                                    settings=opts, **slack))
        r.send = Sender(http, r.running.port)
        return r

    yield start
    for r in started:
        await r.stop()
    await asyncio.gather(*(r.store.close() for r in started))
