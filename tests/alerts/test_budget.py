"""The capture budget is a sliding minute, counted: budget_per_minute capture
starts in any 60 s, by all replicas together (SQLite and PostgreSQL). The two
sequences of issue 17 (10/min: 10 at xx:55 and 10 more 30 s later gave 14 in
30 s; 10 at xx:03 and 10 more 65 s later gave 1) run on a clock the test sets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.alerts.ledger import Ledger
from bot.store.service import Store

#: 2026-12-04 12:00:00 UTC
T0 = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.t = T0

    def at(self, minute: int, second: float) -> None:
        self.t = T0 + timedelta(minutes=minute, seconds=second)

    def later(self, seconds: float) -> None:
        self.t += timedelta(seconds=seconds)


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path) -> str:
    return (f"sqlite+aiosqlite:///{tmp_path}/budget.db" if request.param == "sqlite"
            else request.getfixturevalue("pg_url"))  # a throwaway database


@pytest.fixture
async def stores(db: str) -> AsyncIterator[list[Store]]:
    """Two stores, each with its own engine: two replicas on one database."""
    opened = [await Store.open(db), await Store.open(db)]
    yield opened
    for s in opened:
        await s.close()


@pytest.fixture
def clock(monkeypatch) -> Clock:
    c = Clock()
    monkeypatch.setattr("bot.alerts.ledger.now", lambda: c.t)
    return c


_next = iter(range(1, 1_000_000))


async def captures(ledger: Ledger, n: int, per_minute: int = 10) -> int:
    """n alerts for n distinct hosts: how many may start a capture."""
    ids = [next(_next) for _ in range(n)]
    got = await ledger.claim([(f"h{i}", i) for i in ids], cooldown=0, per_minute=per_minute)
    return sum(c.outcome == "claimed" for c in got.values())


async def test_ten_at_55_then_ten_30s_later(stores: list[Store], clock: Clock) -> None:
    ledger = Ledger(stores[0])
    clock.at(0, 55)
    assert await captures(ledger, 10) == 10
    clock.later(30)  # xx+1:25, a new clock minute: still the same 60 s
    assert await captures(ledger, 10) == 0  # was 4: 14 captures in 30 s
    clock.later(29.9)
    assert await captures(ledger, 10) == 0
    clock.later(0.2)  # 60.1 s after the first ten
    assert await captures(ledger, 10) == 10


async def test_ten_at_03_then_ten_65s_later(stores: list[Store], clock: Clock) -> None:
    ledger = Ledger(stores[0])
    clock.at(0, 3)
    assert await captures(ledger, 10) == 10
    clock.later(65)
    assert await captures(ledger, 10) == 10  # was 1


async def test_starts_leave_the_window_one_by_one(stores: list[Store], clock: Clock) -> None:
    ledger = Ledger(stores[0])
    clock.at(0, 10)
    assert await captures(ledger, 3, per_minute=5) == 3
    clock.later(20)
    assert await captures(ledger, 4, per_minute=5) == 2  # 5 in the last 60 s
    clock.later(41)  # the first 3 are out, the 2 are 41 s old
    assert await captures(ledger, 9, per_minute=5) == 3
    clock.later(20)  # the 2 are out
    assert await captures(ledger, 9, per_minute=5) == 2


async def test_two_replicas_racing_share_one_budget(stores: list[Store], clock: Clock
                                                    ) -> None:
    a, b = Ledger(stores[0]), Ledger(stores[1])
    clock.at(0, 59)
    # each replica claims in many small transactions at once, as a storm does
    rounds = [captures(x, 1) for _ in range(15) for x in (a, b)]
    assert sum(await asyncio.gather(*rounds)) == 10
    clock.later(45)
    assert sum(await asyncio.gather(*(captures(x, 3) for x in (a, b)))) == 0
    clock.later(16)
    assert sum(await asyncio.gather(*(captures(x, 8) for x in (a, b)))) == 10
