"""Start-up budget, structurally: what `hostsnap --help` and `hostsnap snapshot
localhost` import, read from `python -X importtime` of the real console script.
A command must not pay for Slack, aiohttp, Alembic (the schema is current),
asyncssh (no SSH target) or the PostgreSQL dialect (SQLite is used)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

NEVER = ("slack_bolt", "slack_sdk", "aiohttp", "alembic", "asyncssh")


def _hostsnap(tmp: Path, *argv: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run the console script's entry in a fresh interpreter with -X importtime;
    the modules it imported (from the importtime lines on stderr)."""
    cfg = tmp / "hostsnap.toml"
    cfg.write_text(f'database_url = "sqlite:///{tmp}/hs.db"\nallow_localhost = true\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOSTSNAP_")}
    env["HOSTSNAP_CONFIG"] = str(cfg)
    code = "import sys; sys.argv[0] = 'hostsnap'; from bot.entry import main; main()"
    r = subprocess.run([sys.executable, "-X", "importtime", "-c", code, *argv], env=env,
                       capture_output=True, text=True, timeout=120)
    mods = {line.rsplit("|", 1)[1].strip() for line in r.stderr.splitlines()
            if line.startswith("import time:") and "cumulative" not in line}
    return r, mods


def _banned(mods: set[str], roots: tuple[str, ...]) -> list[str]:
    return sorted(m for m in mods if m.split(".")[0] in roots)


def test_help_imports_no_store_ssh_or_slack(tmp_path: Path) -> None:
    r, mods = _hostsnap(tmp_path, "--help")
    assert r.returncode == 0 and " snapshot " in r.stdout
    assert len(mods) > 50  # the importtime lines were read
    assert not _banned(mods, (*NEVER, "sqlalchemy", "aiosqlite"))


def test_snapshot_localhost_imports_only_what_a_local_capture_uses(tmp_path: Path) -> None:
    first, mods = _hostsnap(tmp_path, "snapshot", "localhost", "--json")
    assert first.returncode == 0, first.stderr[-2000:]
    assert "alembic" in mods  # a new database is migrated: Alembic is loaded for that only
    r, mods = _hostsnap(tmp_path, "snapshot", "localhost", "--json")
    assert r.returncode == 0, r.stderr[-2000:]
    snap = json.loads(r.stdout)["snapshots"][0]
    assert snap["host"] == "localhost" and snap["status"] in ("complete", "partial")
    assert {"sqlalchemy", "aiosqlite", "psutil"} <= mods  # it did store and capture
    assert not _banned(mods, NEVER)
    assert "sqlalchemy.dialects.postgresql" not in mods
    assert not {"bot.fleet", "collectors.analysis.fleet", "bot.snapshots.service",
                "rich.live"} & mods  # one host, no terminal
