"""Snapshots stored by the previous hostsnap (schema 0004, findings computed in
the collectors: tests/data/hostsnap-0004.db, made by tests/data/make_db_0004.py)
migrate to finding sets and are analysed again by today's stage, from their raw
JVM and Go dumps."""

from __future__ import annotations

import json
import shutil
import sqlite3
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa

from bot.store.db import make_engine, upgrade
from bot.store.service import Store
from collectors.analysis.results import GoroutinesResult, JvmResult
from collectors.analysis.stage import RULES_VERSION, Evidence, reanalyze
from collectors.analysis.thresholds import Thresholds

DB_0004 = Path(__file__).resolve().parents[1] / "data" / "hostsnap-0004.db"
FIRST, SECOND = "rvf6sybq", "g7anqxea"
OLD_RULES = {"HTTPCLIENT_EVICTOR_LEAK", "THREAD_GROWTH", "GO_MUTEX_PILEUP", "OOM_KILL"}


async def _check_migrated_and_reanalyzed(store: Store) -> None:
    # the old findings are set 1, rules version "0", and still what views show
    assert await store.finding_sets(FIRST) == [(1, "0", 4)]
    before = await store.get_snapshot(FIRST)
    assert {f.rule for f in before.finding_list} == OLD_RULES
    assert {s.id for s in await store.list_snapshots()} == {FIRST, SECOND}

    ev = await store.evidence_of(FIRST)
    assert isinstance(ev.results["jvm"], JvmResult)
    assert isinstance(ev.results["goroutines"], GoroutinesResult)
    (jvm,) = ev.results["jvm"].jvms
    assert [d.method for d in jvm.dumps] == ["attach"] * 3
    assert sorted(a.name for a in ev.artifacts["jvm"]) == [
        f"jvm/{jvm.pid}-dump{i}.txt" for i in (1, 2, 3)]

    found = reanalyze(ev, Thresholds())
    rules = {f.rule: f for f in found}
    assert OLD_RULES <= set(rules), sorted(rules)
    assert rules["HTTPCLIENT_EVICTOR_LEAK"].collector == "jvm"
    assert rules["HTTPCLIENT_EVICTOR_LEAK"].data["pid"] == jvm.pid
    assert rules["GO_MUTEX_PILEUP"].collector == "goroutines"
    assert "2 500 goroutines wait on mutex" in rules["GO_MUTEX_PILEUP"].title

    # from the raw dumps, not from the stored findings nor summaries
    no_raw = Evidence(results=ev.results, artifacts={
        k: v for k, v in ev.artifacts.items() if k not in ("jvm", "goroutines")})
    assert {f.rule for f in reanalyze(no_raw, Thresholds())} == {"OOM_KILL"}

    n = await store.add_finding_set(FIRST, found)
    assert n == 2
    assert await store.finding_sets(FIRST) == [(1, "0", 4), (2, RULES_VERSION, len(found))]
    assert {f.rule for f in await store.findings_of(FIRST)} == set(rules)
    # the other snapshot keeps its own, single set
    assert await store.finding_sets(SECOND) == [(1, "0", 4)]
    # an analysis that finds nothing is the latest set too
    assert await store.add_finding_set(FIRST, []) == 3
    assert await store.findings_of(FIRST) == []
    assert (await store.finding_sets(FIRST))[-1] == (3, RULES_VERSION, 0)


async def test_a_0004_sqlite_database_migrates_and_reanalyzes(tmp_path) -> None:
    db = tmp_path / "copy.db"
    shutil.copy(DB_0004, db)  # never the committed file itself
    store = await Store.open(f"sqlite+aiosqlite:///{db}")
    try:
        await _check_migrated_and_reanalyzed(store)
    finally:
        await store.close()
    with sqlite3.connect(db) as c:
        assert c.execute("SELECT version_num FROM alembic_version").fetchone() == (
            "0005_finding_sets",)


async def test_a_0004_postgresql_database_migrates_and_reanalyzes(pg_url) -> None:
    engine = make_engine(pg_url)
    try:
        assert (await upgrade(engine, "0004_warm_holds"))[1] == "0004_warm_holds"
        # the rows of the 0004 file, inserted as the old code stored them
        src = sa.create_engine(f"sqlite:///{DB_0004}")
        meta = sa.MetaData()
        async with engine.begin() as conn:
            await conn.run_sync(meta.reflect)
            for table in ("snapshots", "collector_runs", "findings", "artifacts"):
                with src.connect() as s:
                    rows = [dict(r._mapping) for r in s.execute(sa.text(
                        f"SELECT * FROM {table}"))]
                t = meta.tables[table]
                for r in rows:
                    if table != "snapshots":
                        del r["id"]  # the server's sequence numbers them, as it did  # SQLite gives JSON and timestamps as text
                    for c in t.columns:
                        if isinstance(c.type, sa.DateTime) and isinstance(r.get(c.name), str):
                            r[c.name] = datetime.fromisoformat(r[c.name])
                        if c.name in ("summary", "warnings", "parsed", "body", "meta") and \
                                isinstance(r.get(c.name), str):
                            r[c.name] = json.loads(r[c.name])
                await conn.execute(t.insert(), rows)
        src.dispose()
    finally:
        await engine.dispose()
    store = await Store.open(pg_url)  # migrates 0004 -> 0005
    try:
        await _check_migrated_and_reanalyzed(store)
    finally:
        await store.close()
