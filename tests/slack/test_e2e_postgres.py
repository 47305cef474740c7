"""On the real PostgreSQL (as production runs it, several replicas sharing
one database): migrations 0001+0002, a capture from Slack, buttons, and a
message Slack missed delivered exactly once although two replicas retry."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from bot.slack.posts import DONE, PENDING
from bot.store.models import SlackPostRow
from tests.fakeslack import FakeSlack
from tests.slack.conftest import summary_of

pytestmark = pytest.mark.postgres


@pytest.fixture
def db_url(pg_url: str) -> str:  # tests/conftest.py: a throwaway database, dropped after
    return pg_url


async def rows(store) -> list[SlackPostRow]:
    async with store.sessions() as s:
        return list((await s.scalars(select(SlackPostRow).order_by(SlackPostRow.id))).all())


async def test_two_replicas_on_postgres(bot_factory, fake: FakeSlack, store) -> None:
    assert store.engine.dialect.name == "postgresql"
    # retry loops idle for the test: the two replicas' retries are run by hand, together
    one = await bot_factory(retry_interval=3600)
    await fake.command("localhost")
    msg, sid = await summary_of(fake)
    await one.idle()
    await fake.click(msg, "Raw files")
    await one.idle()
    assert fake.files_in("C1", msg.ts)

    two = await bot_factory(retry_interval=3600)  # a second replica, same database
    assert fake.events_url and str(two.running.port) in fake.events_url  # Slack calls it

    # Slack away during a capture: the snapshot is kept, its post pending
    fake.outage(True)
    await fake.command("localhost", user="U2")
    await two.idle()
    assert [r.state for r in await rows(store)] == [DONE, PENDING]

    fake.outage(False)
    delivered = await asyncio.gather(one.running.bot.delivery.retry_pending(),
                                     two.running.bot.delivery.retry_pending())
    assert sorted(delivered) == [0, 1]  # one replica claimed it, the other skipped it
    second, sid2 = await summary_of(fake, skip=(msg,))
    assert sid2 != sid and "requested by <@U2>" in second.all_text
    assert len([m for m in fake.top_level() if "— snapshot" in m.all_text]) == 2
    assert [(r.snapshot_id, r.state) for r in await rows(store)] == [(sid, DONE), (sid2, DONE)]
