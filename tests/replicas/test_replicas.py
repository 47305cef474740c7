"""Three bot replicas (`hostsnap serve` processes) on one PostgreSQL database,
Slack requests spread over them as a load balancer would (issue 17, "Several
replicas"): a host's capture is one job taken by one replica, whoever asks and
wherever; a replica killed mid-capture (kill -9) has its job and snapshot
interrupted and its Slack message updated by a survivor within 30 s."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from functools import partial

import pytest
from sqlalchemy import func, select

from bot.capture.jobs import HEARTBEAT_S, LEASE_S
from bot.capture.service import FOLLOW_POLL_S
from bot.store.models import CaptureJobRow, SnapshotRow
from bot.store.service import Store
from tests.fakeslack import FakeSlack, Msg
from tests.replicas.harness import Replica, command
from tests.slack.conftest import make_settings, summary_of

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

DEAD = "the bot replica running it stopped"


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    f = await FakeSlack().start()
    yield f
    await f.close()


@pytest.fixture
async def store(pg_url: str) -> AsyncIterator[Store]:
    s = await Store.open(pg_url)  # migrated here: the replicas then start on a current schema
    yield s
    await s.close()


async def replicas(fake: FakeSlack, pg_url: str, slow_s: float, n: int = 3) -> list[Replica]:
    settings = make_settings(fake, pg_url, collectors=["limits", "slow"])
    env = {"SLOW_SECONDS": str(slow_s)}
    return list(await asyncio.gather(*(Replica(name, settings, env).start()
                                       for name in "ABC"[:n])))


async def stop_all(rs: list[Replica]) -> None:
    await asyncio.gather(*(r.stop() for r in rs))


async def count(store: Store, what: type) -> int:
    async with store.sessions() as s:
        return int(await s.scalar(select(func.count()).select_from(what)) or 0)


async def test_two_askers_on_two_replicas_get_one_capture(fake: FakeSlack, pg_url: str,
                                                          store: Store) -> None:
    rs = await replicas(fake, pg_url, slow_s=1.5)
    a, b, c = rs
    try:
        pairs = [(a, b), (b, c), (c, a), (b, b)]  # the last: twice on one replica
        for i, (first, second) in enumerate(pairs):
            c1, c2 = f"C{2 * i + 1}", f"C{2 * i + 2}"
            u1, u2 = f"U{2 * i + 1}", f"U{2 * i + 2}"
            await asyncio.gather(command(fake, first, "localhost", user=u1, channel=c1),
                                 command(fake, second, "localhost", user=u2, channel=c2))
            m1, sid1 = await summary_of(fake, channel=c1, timeout=30)
            m2, sid2 = await summary_of(fake, channel=c2, timeout=30)
            assert sid1 == sid2, f"pair {i}: two captures ({sid1}, {sid2})"
            for m, u in ((m1, u1), (m2, u2)):
                assert f"snapshot `{sid1}` · complete" in m.all_text
                assert "Evidence saved — safe to restart." in m.all_text
                assert f"requested by <@{u}>" in m.all_text
            # one of the two was told it joined the capture the other started
            told = [u for u in (u1, u2) if any(
                f"localhost was already being captured (snapshot {sid1}): you joined that "
                "capture, nothing new was started" in t for t in fake.ephemerals_for(u))]
            assert len(told) == 1, (i, told)
            assert await count(store, SnapshotRow) == i + 1
        async with store.sessions() as s:
            jobs = (await s.execute(select(CaptureJobRow.state, CaptureJobRow.owner))).all()
        assert [st for st, _ in jobs] == ["done"] * len(pairs)
        assert {o for _, o in jobs} <= {r.owner for r in rs}
    finally:
        await stop_all(rs)


def _says(fake: FakeSlack, channel: str, text: str) -> Msg | None:
    return next((m for m in fake.top_level(channel) if text in m.all_text), None)


def _details(fake: FakeSlack, channel: str, msg: Msg) -> list[Msg]:
    return [m for m in fake.replies(channel, msg.ts) if "Details of snapshot" in m.all_text]


async def test_replica_killed_mid_capture_a_survivor_says_interrupted(
        fake: FakeSlack, pg_url: str, store: Store) -> None:
    rs = await replicas(fake, pg_url, slow_s=300)
    a, b, _ = rs
    try:
        await asyncio.gather(command(fake, a, "localhost", user="U1", channel="C1"),
                             command(fake, b, "localhost", user="U2", channel="C2"))

        async def running() -> tuple[str, str] | None:
            async with store.sessions() as s:
                row = (await s.execute(select(CaptureJobRow.owner, CaptureJobRow.snapshot_id)
                                       .where(CaptureJobRow.state == "running"))).first()
            return (row[0], row[1]) if row else None

        deadline = time.monotonic() + 30
        while (job := await running()) is None:
            assert time.monotonic() < deadline, "no replica took the job"
            await asyncio.sleep(0.1)
        owner, sid = job
        taker = next(r for r in rs if r.owner == owner)
        mine, other = ("C1", "C2") if taker is a else ("C2", "C1")
        # both messages follow the one capture: `limits` saved, `slow` running
        for ch in (mine, other):
            try:
                await fake.wait_for(partial(_says, fake, ch, "limits ok"), 20,
                                    f"progress in {ch}")
            except AssertionError as e:
                raise AssertionError(f"{e}; taker {taker.name}, messages: " + repr(
                    [(m.channel, m.all_text) for c in ("C1", "C2")
                     for m in fake.bot_messages(c)])) from None
        assert _says(fake, other, "localhost was already being captured")

        await taker.kill9()
        t0 = time.monotonic()
        await fake.wait_for(lambda: _says(fake, mine, DEAD), 40,
                            "the killed replica's message updated by a survivor")
        took = time.monotonic() - t0
        await fake.wait_for(lambda: _says(fake, other, DEAD), 10, "the joiner's message")
        took_other = time.monotonic() - t0
        print(f"\nkill -9 of {taker.name} -> its message says interrupted after {took:.1f} s "
              f"(the joiner's after {took_other:.1f} s; lease {LEASE_S:g} s, heartbeat "
              f"{HEARTBEAT_S:g} s)")
        assert took < 30
        for ch in (mine, other):
            (msg,) = fake.top_level(ch)  # updated in place, not a second message
            assert f"snapshot `{sid}` · interrupted" in msg.all_text
            assert (f"capture interrupted ({DEAD}); what 1 collector saved before that "
                    "is kept") in msg.all_text
            assert "missing: slow" in msg.all_text
            assert "safe to restart" not in msg.all_text
            # the details once in its thread (the joiner's replica and the sweep
            # do not both deliver it)
            await fake.wait_for(partial(_details, fake, ch, msg), 10,
                                f"details in the thread in {ch}")
        assert (await store.get_snapshot(sid)).status == "interrupted"
        async with store.sessions() as s:
            states = (await s.execute(select(CaptureJobRow.state, CaptureJobRow.error))).all()
        assert states == [("interrupted", DEAD)]
        assert await count(store, SnapshotRow) == 1

        # the host is free again: a new request captures anew on a survivor (once
        # the joiner's replica saw the end: it looks every FOLLOW_POLL_S)
        await asyncio.sleep(3 * FOLLOW_POLL_S)
        survivor = next(r for r in rs if r is not taker)
        await command(fake, survivor, "localhost", user="U3", channel="C3")
        await fake.wait_for(lambda: _says(fake, "C3", "limits ok"), 20, "a new capture")
        assert not fake.ephemerals_for("U3")  # not "joined": nothing to join
        for ch in (mine, other):
            (msg,) = fake.top_level(ch)
            assert len(_details(fake, ch, msg)) == 1
        assert await count(store, SnapshotRow) == 2
    finally:
        await stop_all(rs)
