"""The capture budget is a sliding minute: a storm straddling a clock minute
does not get twice `budget_per_minute` (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from bot.alerts.ledger import Ledger
from bot.store.service import Store


@pytest.fixture(params=["sqlite", "postgresql"])
async def ledger(request, tmp_path):
    url = (f"sqlite+aiosqlite:///{tmp_path}/budget.db" if request.param == "sqlite"
           else request.getfixturevalue("pg_url"))  # a throwaway database
    store = await Store.open(url)
    yield Ledger(store)
    await store.close()


async def test_budget_is_a_sliding_minute(ledger: Ledger, monkeypatch) -> None:
    clock = {"minute": 29_000_000, "elapsed": 0.95}
    monkeypatch.setattr("bot.alerts.ledger.current_minute", lambda: clock["minute"])
    monkeypatch.setattr("bot.alerts.ledger.minute_elapsed", lambda: clock["elapsed"])

    async def claimed(first: int, n: int) -> int:
        got = await ledger.claim([(f"h{i}", i) for i in range(first, first + n)],
                                 cooldown=0, per_minute=4)
        return sum(c.outcome == "claimed" for c in got.values())

    assert await claimed(0, 6) == 4  # 4 of 6 at xx:57
    clock.update(minute=29_000_001, elapsed=0.05)  # 6 s later, a new clock minute
    assert await claimed(10, 4) == 0  # those 4 were within the last 60 s
    clock["elapsed"] = 0.5  # half of the previous minute is out of the window
    assert await claimed(20, 4) == 2
    clock.update(minute=29_000_003, elapsed=0.0)  # two minutes on: the whole budget
    assert await claimed(30, 6) == 4
