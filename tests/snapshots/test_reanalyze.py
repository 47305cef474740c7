"""`hostsnap reanalyze` as a user runs it, on a copy of a database made by the
hostsnap before issue 14 (tests/data/hostsnap-0004.db): `db upgrade`, then
today's rules over both stored snapshots, from their raw dumps."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

from bot.store.db import head_revision
from bot.store.service import Store
from collectors.analysis.stage import RULES_VERSION
from tests.data.db0004 import DB_0004, FIRST, SECOND, load_into_postgresql


def hostsnap(url: str, home: Path, *args: str, code: int = 0) -> str:
    env = {k: v for k, v in os.environ.items() if k != "HOSTSNAP_CONFIG"}
    env.update(HOSTSNAP_DATABASE_URL=url, XDG_CONFIG_HOME=str(home / "noconfig"),
               COLUMNS="200")
    r = subprocess.run([sys.executable, "-m", "bot", *args], env=env, capture_output=True,
                       text=True, timeout=120, cwd=home)
    assert r.returncode == code, (args, r.stdout, r.stderr)
    return r.stdout


async def _reanalyze_and_check(url: str, home: Path) -> None:
    assert f"0004_warm_holds → {head_revision()}" in hostsnap(url, home, "db", "upgrade")

    # only the second snapshot was taken after 21:10:34
    doc = json.loads(hostsnap(url, home, "reanalyze", "--since", "2026-12-04T21:10:34",
                              "--json"))
    assert [r["id"] for r in doc] == [SECOND]
    assert doc[0]["old_rules"] == "0" and doc[0]["new_rules"] == RULES_VERSION

    lines = hostsnap(url, home, "reanalyze", "--since", "3650d", "--host", "db0004")
    first, second = lines.splitlines()
    # the mutex pile-up the old rules missed on FIRST (its row deleted): found again
    # from the raw goroutine dump, the worst finding
    assert first.startswith(f"{FIRST} db0004  rules 0 → {RULES_VERSION}  +1/−0"), first
    assert "worst: 127.0.0.1:" in first and "goroutines wait on mutex" in first
    assert second == f"{SECOND} db0004 already at rules {RULES_VERSION} (--force to run again)"
    # twice changes nothing
    again = hostsnap(url, home, "reanalyze", FIRST[:5], SECOND)
    assert "+" not in again and again.count("already at rules") == 2

    shown = json.loads(hostsnap(url, home, "show", FIRST, "--json"))
    rules = {f["rule"]: f for f in shown["finding_list"]}
    assert {"HTTPCLIENT_EVICTOR_LEAK", "GO_MUTEX_PILEUP", "THREAD_GROWTH", "OOM_KILL"} == \
        set(rules)
    assert rules["HTTPCLIENT_EVICTOR_LEAK"]["collector"] == "jvm"
    assert "GO_MUTEX_PILEUP" in hostsnap(url, home, "show", FIRST)

    store = await Store.open(url, migrate=False)
    try:
        # the old analysis is kept beside the new one
        assert await store.finding_sets(FIRST) == [(1, "0", 3), (2, RULES_VERSION, 4)]
        assert await store.finding_sets(SECOND) == [(1, "0", 4), (2, RULES_VERSION, 4)]
        audit = await store.audit_events(action="reanalyze")
        assert sorted(a.snapshot_id or "" for a in audit) == sorted([FIRST, SECOND])
        assert all(a.actor.startswith("cli") and a.detail["interface"] == "cli"
                   and a.detail["old_rules"] == "0" for a in audit)
    finally:
        await store.close()

    assert "already at rules" not in hostsnap(url, home, "reanalyze", FIRST, "--force")
    hostsnap(url, home, "reanalyze", "--since", "yesterday-ish", code=2)


def _forget_mutex_finding(db: Path) -> None:
    # as if the old rules had missed it on the first snapshot
    with sqlite3.connect(db) as c:
        c.execute("DELETE FROM findings WHERE snapshot_id = ? AND rule = 'GO_MUTEX_PILEUP'",
                  (FIRST,))


async def test_reanalyze_a_database_of_the_previous_version_sqlite(tmp_path) -> None:
    db = tmp_path / "copy.db"
    shutil.copy(DB_0004, db)  # never the committed file itself
    _forget_mutex_finding(db)
    await _reanalyze_and_check(f"sqlite:///{db}", tmp_path)


async def test_reanalyze_a_database_of_the_previous_version_postgresql(tmp_path,
                                                                      pg_url) -> None:
    await load_into_postgresql(pg_url)
    import asyncpg

    conn = await asyncpg.connect(pg_url)
    try:
        await conn.execute("DELETE FROM findings WHERE snapshot_id = $1 "
                           "AND rule = 'GO_MUTEX_PILEUP'", FIRST)
    finally:
        await conn.close()
    await _reanalyze_and_check(pg_url, tmp_path)
