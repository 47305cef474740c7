"""The capture job table between replicas, on SQLite and PostgreSQL: many
requests for one host at once make one job, taken by one replica; a job whose
replica died is interrupted by one survivor, with its snapshot and the alert
it was capturing (captured again on the alert's next repeat)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.alerts.ledger import Ledger, Result
from bot.alerts.payloads import Alert
from bot.capture.jobs import DEAD_OWNER, CaptureJobs
from bot.store.service import Store


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[Store]:
    s = await Store.open(db_url)
    yield s
    await s.close()


async def test_one_job_per_host_taken_by_one_replica(store: Store) -> None:
    one, two = CaptureJobs(store, owner="r1:1"), CaptureJobs(store, owner="r2:2")
    asked = await asyncio.gather(*(r.enqueue("web-03", requested_by=f"slack:U{i}")
                                   for i in range(5) for r in (one, two)))
    assert len({job.id for job, _ in asked}) == 1
    assert [joined for _, joined in asked].count(False) == 1
    job = asked[0][0]
    taken = await asyncio.gather(one.take(job.id), two.take(job.id), one.take(job.id))
    assert sorted(taken) == [False, False, True]
    # another host is another job
    other, joined = await two.enqueue("web-04")
    assert not joined and other.id != job.id


async def test_dead_replicas_job_interrupted_once_and_its_alert_captured_on_repeat(
        store: Store) -> None:
    dead = CaptureJobs(store, owner="gone:1", lease_s=0.0)  # its lease is over at once
    job, joined = await dead.enqueue("web-03", trigger="alert")
    assert not joined and await dead.take(job.id)
    await store.create_snapshot("web-03", snapshot_id=job.snapshot_id)

    ledger = Ledger(store)
    alert = Alert("hostsnap", "firing", "fp-web-03", "2026-12-04T23:00:00Z", None, None,
                  {"alertname": "HostThreadsNearLimit", "instance": "web-03"})
    rid = (await ledger.intake([alert])).new[alert.key].id
    assert (await ledger.claim([("web-03", rid)], 900.0, 10))["web-03"].outcome == "claimed"
    await ledger.finish([Result(rid, "capturing", "capturing web-03", "web-03")])
    await ledger.set_snapshot(rid, job.snapshot_id)
    # a repeat while it says capturing: not captured again (it may still be running)
    assert alert.key not in (await ledger.recheck([alert])).new

    survivors = [CaptureJobs(store, owner="alive:2"), CaptureJobs(store, owner="alive:3")]
    swept = await asyncio.gather(*(s.sweep() for s in survivors))
    assert sorted(len(g) for g in swept) == [0, 1]  # one survivor took it
    (gone,) = [g for gs in swept for g in gs]
    assert (gone.job_id, gone.snapshot_id, gone.owner) == (job.id, job.snapshot_id, "gone:1")
    view = await store.get_snapshot(job.snapshot_id)
    assert view.status == "interrupted"
    assert view.error == f"capture interrupted ({DEAD_OWNER}); nothing was saved before that"
    assert await survivors[0].sweep() == []

    assert await ledger.interrupted([job.snapshot_id], 0.0, f"interrupted: {DEAD_OWNER}") == 1
    (row,) = await ledger.rows(id=rid)
    assert (row.outcome, row.detail) == ("capture_failed", f"interrupted: {DEAD_OWNER}")
    # its next repeat is decided again: captured this time
    assert alert.key in (await ledger.recheck([alert])).new
    # and the host is free: a new request makes a new job
    again, joined = await survivors[0].enqueue("web-03")
    assert not joined and again.id != job.id


async def test_a_replicas_keeper_releases_the_alerts_of_dead_replicas_jobs(
        store: Store, tmp_path) -> None:
    """As `serve` wires it (bot/app.py): the keeper's sweep interrupts the
    job, the alerts domain releases its alert, the interface is told."""
    from bot.app import App
    from bot.config import Settings

    dead = CaptureJobs(store, owner="gone:1", lease_s=0.0)
    job, _ = await dead.enqueue("web-03", trigger="alert")
    assert await dead.take(job.id)
    await store.create_snapshot("web-03", snapshot_id=job.snapshot_id)
    ledger = Ledger(store)
    alert = Alert("hostsnap", "firing", "fp-web-03", "2026-12-04T23:00:00Z", None, None,
                  {"alertname": "HostThreadsNearLimit", "instance": "web-03"})
    rid = (await ledger.intake([alert])).new[alert.key].id
    await ledger.finish([Result(rid, "capturing", "capturing web-03", "web-03")])
    await ledger.set_snapshot(rid, job.snapshot_id)

    keeper = App(Settings(database_url=str(store.engine.url)), store).job_keeper
    told: list[list[str]] = []

    async def interface(gone: list) -> None:
        told.append([g.snapshot_id for g in gone])

    keeper.on_interrupted.append(interface)
    assert [g.job_id for g in await keeper.round()] == [job.id]
    (row,) = await ledger.rows(id=rid)
    assert (row.outcome, row.detail) == ("capture_failed", f"interrupted: {DEAD_OWNER}")
    assert told == [[job.snapshot_id]]
    assert await keeper.round() == [] and len(told) == 1  # told once
