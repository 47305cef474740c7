"""The verdict after a crash (issue 16): `hostsnap snapshot` of a lab host
running a JVM, killed with SIGKILL while the JVM dumps are being taken; then
`hostsnap show` says the capture was interrupted, names jvm as missing
("never reported") and never says "safe to restart"."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from bot.store.db import DatabaseError
from bot.store.models import CollectorRunRow, SnapshotRow
from bot.store.service import Store
from tests.integration.helpers import write_config
from tests.integration.test_jvm import Jvm, jvm_classes  # noqa: F401 (fixture)

pytestmark = pytest.mark.root


async def _rows(url: str) -> tuple[str | None, set[str]]:
    """What the CLI has saved so far. Never migrates: the CLI may be creating the
    schema right now (two migrations of one new SQLite file race)."""
    try:
        store = await Store.open(url, migrate=False)
    except DatabaseError:
        return None, set()
    try:
        async with store.sessions() as s:
            sid = await s.scalar(select(SnapshotRow.id))
            names = set((await s.scalars(select(CollectorRunRow.collector))).all())
        return sid, names
    except OperationalError:  # no tables yet
        return None, set()
    finally:
        await store.close()


async def test_cli_killed_mid_capture_show_names_jvm_missing(host, tmp_path,
                                                             jvm_classes) -> None:  # noqa: F811
    jvm = Jvm(host, jvm_classes, "Sleepers", "50", stdout=tmp_path / "sleepers.out")
    try:
        jvm.wait_ready("ready")
        db = tmp_path / "hs.db"
        # three dumps 5 s apart: the jvm collector runs for 10 s and more
        cfg = write_config(tmp_path / "c.toml", [host], db_url=f"sqlite:///{db}",
                           extra='[capture]\ncollectors = ["limits", "memory", "jvm"]\n'
                                 "[jvm]\ndumps = 3\nspacing = 5.0\n")
        env = {**os.environ, "HOSTSNAP_CONFIG": str(cfg), "COLUMNS": "200"}
        proc = subprocess.Popen([sys.executable, "-m", "bot", "snapshot", host.name], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        url = f"sqlite+aiosqlite:///{db}"
        try:
            deadline = time.monotonic() + 60
            sid, names = None, set()
            while time.monotonic() < deadline:  # limits and memory saved, jvm still dumping
                if db.exists():
                    sid, names = await _rows(url)
                    if {"limits", "memory"} <= names:
                        break
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                await asyncio.sleep(0.2)
            assert sid and {"limits", "memory"} <= names and "jvm" not in names, names
        finally:
            proc.send_signal(signal.SIGKILL)  # no cleanup of any kind
            proc.wait(timeout=10)
        assert "jvm" not in (await _rows(url))[1]

        r = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "bot", "show", sid],
                                    env=env, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        shown = r.stdout
        assert f"snapshot {sid}  interrupted" in shown, shown
        assert "missing jvm — never reported: the capture was interrupted" in shown, shown
        assert "capture interrupted (the hostsnap process capturing it is gone)" in shown
        assert "safe to restart" not in shown
        assert f"capture again: `hostsnap snapshot {host.name}`" in shown
        assert f"`hostsnap watch {host.name}`" in shown
        assert "`kill -QUIT " in shown and "of the JVM" in shown
        assert jvm.alive()  # the capture never hurt it
    finally:
        jvm.stop()
