"""The replicas' storm on the real PostgreSQL, as production runs several bot
replicas: the unique delivery key, the cooldown claim and the budget slots are
arbitrated by PostgreSQL (READ COMMITTED, concurrent transactions)."""

from __future__ import annotations

import pytest

from tests.alerts.test_e2e_replicas import storm_makes_one_snapshot_per_host
from tests.fakeslack import FakeSlack

pytestmark = pytest.mark.postgres


@pytest.fixture
def db_url(pg_url: str) -> str:  # tests/conftest.py: a throwaway database, dropped after
    return pg_url


async def test_two_replicas_on_postgres(replicas, fake: FakeSlack) -> None:
    await storm_makes_one_snapshot_per_host(replicas, fake)
