"""Snapshots stored by the previous hostsnap (schema 0004, findings computed in
the collectors: tests/data/hostsnap-0004.db, made by tests/data/make_db_0004.py)
migrate to finding sets and are analysed again by today's stage, from their raw
JVM and Go dumps."""

from __future__ import annotations

import shutil
import sqlite3

from bot.store.db import head_revision
from bot.store.service import Store
from collectors.analysis.results import GoroutinesResult, JvmResult
from collectors.analysis.stage import RULES_VERSION, Evidence, reanalyze
from collectors.analysis.thresholds import Thresholds
from tests.data.db0004 import DB_0004, FIRST, SECOND, load_into_postgresql

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
            head_revision(),)


async def test_a_0004_postgresql_database_migrates_and_reanalyzes(pg_url) -> None:
    await load_into_postgresql(pg_url)
    store = await Store.open(pg_url)  # migrates 0004 -> 0005
    try:
        await _check_migrated_and_reanalyzed(store)
    finally:
        await store.close()
