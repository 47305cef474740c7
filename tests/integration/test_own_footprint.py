"""hostsnap's own SSH session (our sshd and sftp-server) is not the host's: it
is recorded as the capture's footprint and left out of top consumers and of
`hostsnap diff` (it used to show as a process change on every diff)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

from tests.integration.helpers import write_config

OURS = ("sshd", "sshd-session", "sftp-server")


def _hostsnap(*args: str, env: dict[str, str]) -> str:
    r = subprocess.run([sys.executable, "-m", "bot", *args], env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r.stdout


async def test_diff_of_two_lab_snapshots_leaves_out_our_own_session(host, tmp_path):
    cfg = write_config(tmp_path / "c.toml", [host], db_url=f"sqlite:///{tmp_path}/hs.db")
    env = {**os.environ, "HOSTSNAP_CONFIG": str(cfg)}
    snaps = []
    for _ in range(2):  # two CLI processes: two SSH sessions, other pids each time
        out = await asyncio.to_thread(_hostsnap, "snapshot", host.name, "--json", "-c",
                                      "limits", env=env)
        (snap,) = json.loads(out)["snapshots"]
        assert snap["status"] == "complete", snap
        snaps.append(snap)

    for snap in snaps:
        limits = snap["parsed"]["limits"]
        own = set(limits["own_pids"])
        # our sftp-server (or sshd itself with internal-sftp, as in the lab) and
        # the sshd session processes above it
        assert len(own) >= 2, limits
        assert not own & {p["pid"] for p in limits["top"]}
        assert not [p for p in limits["top"] if p["name"] == "sftp-server"], limits["top"]
        tsv = _hostsnap("show", snap["id"], "--raw", "threads.tsv", env=env)
        names = {int(r.split("\t")[0]): r.split("\t")[6] for r in tsv.splitlines()[1:]}
        assert {names[p] for p in own} <= set(OURS), (own, names)
    assert set(snaps[0]["parsed"]["limits"]["own_pids"]).isdisjoint(
        snaps[1]["parsed"]["limits"]["own_pids"])

    doc = json.loads(_hostsnap("diff", snaps[0]["id"], snaps[1]["id"], "--json", env=env))
    assert not [p for p in doc["processes"] if p["name"] in OURS], doc["processes"]
