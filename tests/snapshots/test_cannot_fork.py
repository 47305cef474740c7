"""A host that cannot fork any more, with no warm session (issue 16): sshd
takes the TCP connection, then closes it (it cannot fork the session). The
message said "cannot reach ...: Connection lost — check access with `hostsnap
hosts`"; it must say the host accepts connections but cannot start a session,
point at a warm session next time, and Slack shows no button that cannot work."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest

from bot.config import SSHSettings
from tests.fakeslack import FakeSlack
from tests.integration.helpers import write_config
from tests.slack.conftest import lab_entry

pytestmark = pytest.mark.root
SIGN = "accepts connections but cannot start a session"


async def test_cli_says_the_host_cannot_start_a_session(host, tmp_path) -> None:
    cfg = write_config(tmp_path / "c.toml", [host], db_url=f"sqlite:///{tmp_path}/hs.db")
    env = {**os.environ, "HOSTSNAP_CONFIG": str(cfg), "COLUMNS": "300"}
    hog = host.fill_to_ceiling()
    try:
        r = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "bot", "snapshot", host.name, "-c",
                             "limits,memory"], env=env, capture_output=True, text=True,
            timeout=120)
    finally:
        hog.stop()
    said = " ".join((r.stdout + r.stderr).split())  # rich wraps long lines
    assert r.returncode != 0
    assert f"{host.address}:22 {SIGN}" in said, said
    assert "probably at its process/thread ceiling" in said
    assert f"Keep a warm session next time: `hostsnap watch {host.name}`" in said
    assert "cannot reach" not in said and "check access" not in said


async def test_slack_says_so_and_shows_no_button(host, bot_factory, fake: FakeSlack) -> None:
    await bot_factory(settings={"hosts": [lab_entry(host)], "allow_localhost": False,
                                "ssh": SSHSettings(use_agent=False, connect_timeout=5,
                                                   retries=1)})
    hog = host.fill_to_ceiling()
    try:
        await fake.command(host.name)
        msgs = await fake.wait_for(
            lambda: [m for m in fake.top_level() if SIGN in m.all_text], 60,
            "the failed capture's message")
    finally:
        hog.stop()
    (msg,) = msgs
    t = msg.all_text
    assert f"`/snapshot watch {host.name}`" in t
    assert "check access" not in t and "cannot reach" not in t
    assert "safe to restart" not in t
    assert not [b for b in msg.blocks if b["type"] == "actions"], msg.blocks
