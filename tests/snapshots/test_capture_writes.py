"""A capture's writes (issue 14, start-up): one transaction to open the
snapshot (with its audit row), one per collector as it finishes, one to close
it — each collector's evidence durable the moment it ends, and a bounded
number of statements per capture, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event

from bot.capture.progress import ProgressEvent
from bot.capture.service import CaptureService
from bot.config import Settings
from bot.store.service import Store


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    # tests/snapshots' db_url is SQLite only; this one is both
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/hostsnap.db"
    return str(request.getfixturevalue("pg_url"))


async def test_localhost_capture_commits_once_per_collector_and_keeps_each_at_once(
        any_db: str) -> None:
    db_url = any_db
    store = await Store.open(db_url)
    reader = await Store.open(db_url, migrate=False)  # another connection, as a crash would see
    writes: list[str] = []
    commits: list[int] = []
    seen_durable: dict[str, bool] = {}

    def on_exec(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        writes.append(statement.split()[0].upper() + " " + statement.split()[2].strip('"'))

    event.listen(store.engine.sync_engine, "before_cursor_execute", on_exec)
    event.listen(store.engine.sync_engine, "commit", lambda conn: commits.append(1))

    async def on_progress(e: ProgressEvent) -> None:
        if e.collector and e.status not in ("running",):
            view = await reader.get_snapshot(e.snapshot_id)
            seen_durable[e.collector] = e.collector in {c.name for c in view.collectors}

    try:
        svc = CaptureService(Settings(database_url=db_url), store)
        (h,) = svc.inventory.resolve(["localhost"])
        out = await svc.capture(h, actor="tester", on_progress=on_progress)
        assert out.snapshot is not None, out.error
        n = len(out.snapshot.collectors)
        assert n >= 4 and out.snapshot.artifacts
        # saved as each collector finished, seen from another connection
        assert seen_durable == {c.name: True for c in out.snapshot.collectors}
        # the audit row went in with the snapshot
        (ev,) = await reader.audit_events(snapshot_id=out.snapshot.id, action="capture")
        assert ev.actor == "tester" and ev.detail["collectors"]
    finally:
        await reader.close()
        await store.close()

    # open (snapshot + audit), one per collector, close
    assert len(commits) == n + 2, writes
    inserts = [w for w in writes if w.startswith("INSERT")]
    # at most one INSERT per table per collector: raw files and findings batched
    assert sum(w == "INSERT artifacts" for w in inserts) <= n, inserts
    assert sum(w == "INSERT collector_runs" for w in inserts) == n
    # open 2 + per collector <= 3 + close <= 5 + the view read back 4
    assert len(writes) <= 2 + 3 * n + 5 + 4, writes
