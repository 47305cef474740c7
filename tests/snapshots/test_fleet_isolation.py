"""One host's failure is that host's, not the fleet's; and many captures
writing at once to SQLite wait their turn instead of failing with "database
is locked" (seen with `snapshot @all` of 100 lab hosts on a loaded machine:
one host's write waited past the busy timeout and the whole command ended)."""

from __future__ import annotations

import asyncio
import logging
import random
import sqlite3
from pathlib import Path

import pytest

from bot.capture.service import CaptureService
from bot.config import CaptureSettings, Settings
from bot.inventory import InventoryHost
from bot.store.service import Store
from collectors.base import Artifact, CollectorResult, Status


def _settings(tmp_path: Path) -> Settings:
    s = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/hs.db")
    s.capture = CaptureSettings(collectors=["limits"], concurrency=5)
    return s


async def test_a_host_whose_write_fails_does_not_end_the_others(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = _settings(tmp_path)
    store = await Store.open(settings.database_url)
    # the database itself refuses this one host's snapshot (as a full disk or a
    # bug would), the others are written as usual
    with sqlite3.connect(tmp_path / "hs.db") as db:
        db.execute("CREATE TRIGGER refuse BEFORE INSERT ON snapshots WHEN NEW.host = 'local-bad' "
                   "BEGIN SELECT RAISE(ABORT, 'refused by a test trigger'); END")
    svc = CaptureService(settings, store)
    hosts = [InventoryHost(f"local-{i}", "local") for i in range(4)]
    hosts.insert(2, InventoryHost("local-bad", "local"))
    try:
        with caplog.at_level(logging.ERROR):
            outs = await asyncio.wait_for(svc.capture_many(hosts), 60)
    finally:
        await store.close()
    assert [o.host for o in outs] == [h.name for h in hosts]
    bad = outs[2]
    assert bad.snapshot is None
    assert bad.error == ("local-bad: the database refused to save it (refused by a test "
                         "trigger); details in hostsnap's log")
    assert "refused by a test trigger" in caplog.text  # the details are there
    for o in outs[:2] + outs[3:]:
        assert o.snapshot is not None and o.snapshot.status == "complete", (o.host, o.error)


async def test_many_writers_on_sqlite_wait_their_turn(tmp_path: Path) -> None:
    # a short database timeout, 100 captures writing 1 MB (that zstd cannot
    # shrink) each at once: with only SQLite's busy timeout, 6 of 100 failed
    # "database is locked" here
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path}/hs.db", timeout=0.5)
    blob = random.Random(0).randbytes(1024 * 1024)

    async def one(i: int) -> str:
        sid = await store.create_snapshot(f"h{i}", expected=["x"], audit_actor="test")
        await store.add_result(sid, CollectorResult(
            "x", Status.OK, artifacts=[Artifact(f"x/{i}.bin", blob)]))
        await store.finish_snapshot(sid)
        return sid

    try:
        sids = await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(100))), 120)
        views = [await store.get_snapshot(sid) for sid in sids]
    finally:
        await store.close()
    assert [v.status for v in views] == ["complete"] * 100
