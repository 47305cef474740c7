"""The store on SQLite and the real PostgreSQL: what a user gets back."""

from datetime import timedelta

import pytest

from bot.store.db import current_revision, downgrade, head_revision, make_engine, upgrade
from bot.store.service import SnapshotNotFound, Store
from collectors.analysis.findings import Finding, Severity, TableBlock
from collectors.base import Artifact, CollectorResult, Status


def _result(name: str, status: Status = Status.OK, data: bytes = b"x" * 5000) -> CollectorResult:
    return CollectorResult(
        collector=name, status=status, parsed={"n": 1},
        artifacts=[Artifact(f"{name}/raw.txt", data)],
        findings=[Finding(rule="THREAD_CEILING", severity=Severity.CRITICAL, collector=name,
                          title="31 412 threads of threads-max 31 500",
                          evidence=[TableBlock(headers=["pid"], rows=[["811"]])])],
        error=None if status is Status.OK else "timed out after 8s",
    )


async def test_snapshot_roundtrip(db_url):
    store = await Store.open(db_url)
    try:
        sid = await store.create_snapshot("web-03", group="payments", requested_by="alice")
        await store.add_result(sid, _result("limits"))
        await store.add_result(sid, _result("network", Status.TIMEOUT))
        await store.finish_snapshot(sid)
        v = await store.get_snapshot(sid[:5])  # a prefix is enough to type
        assert v.id == sid and v.host == "web-03" and v.status == "partial"
        assert [(c.name, c.error) for c in v.missing] == [("network", "timed out after 8s")]
        assert v.finding_list[0].evidence[0].rows == [["811"]]  # type: ignore[union-attr]
        assert v.critical == 2 and v.headline.startswith("31 412 threads")
        meta, data = await store.get_artifact(sid, "limits/raw.txt")
        assert data == b"x" * 5000 and meta.stored_size < meta.size  # zstd
        assert [s.id for s in await store.list_snapshots("web-03")] == [sid]
        assert await store.list_snapshots("web-04") == []
    finally:
        await store.close()


async def test_previous_and_unknown_ids(db_url):
    store = await Store.open(db_url)
    try:
        a = await store.create_snapshot("web-03")
        b = await store.create_snapshot("web-03")
        await store.create_snapshot("web-04")
        assert await store.previous_snapshot(b) == a
        assert await store.previous_snapshot(a) is None
        with pytest.raises(SnapshotNotFound, match="not a snapshot id"):
            await store.get_snapshot("'; drop table snapshots; --")
        with pytest.raises(SnapshotNotFound, match="no snapshot"):
            await store.get_snapshot("zzzzzzzz")
        with pytest.raises(SnapshotNotFound, match="has no raw file"):
            await store.get_artifact(a, "nope")
    finally:
        await store.close()


async def test_interrupted_and_audit(db_url):
    store = await Store.open(db_url)
    try:
        sid = await store.create_snapshot("web-05")
        await store.add_result(sid, _result("limits"))
        assert await store.mark_interrupted(older_than=timedelta(0)) == [sid]
        v = await store.get_snapshot(sid)
        assert v.status == "interrupted" and "evidence saved before that is kept" in (v.error or "")
        assert [c.name for c in v.collectors] == ["limits"]
        await store.audit("U123", "view_raw", "limits/raw.txt", snapshot_id=sid, channel="C1")
        (ev,) = await store.audit_events(snapshot_id=sid)
        assert (ev.actor, ev.action, ev.detail) == ("U123", "view_raw", {"channel": "C1"})
    finally:
        await store.close()


async def test_migrations_up_down_up(db_url):
    engine = make_engine(db_url)
    try:
        before, after = await upgrade(engine)
        assert before is None and after == head_revision()
        assert await upgrade(engine) == (after, after)  # idempotent
        await downgrade(engine, "base")
        assert await current_revision(engine) is None
        await upgrade(engine)
        assert await current_revision(engine) == head_revision()
    finally:
        await engine.dispose()


def test_schema_head_constant_matches_alembic():
    from bot.store.db import SCHEMA_HEAD

    assert head_revision() == SCHEMA_HEAD


async def test_unreachable_database_is_one_clear_line():
    from bot.store.db import DatabaseError

    with pytest.raises(DatabaseError, match=r"database unreachable \(127.0.0.1:1/x\)"):
        await Store.open("postgresql://u:secret@127.0.0.1:1/x")
