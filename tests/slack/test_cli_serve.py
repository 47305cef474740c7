"""`hostsnap serve` as installed: the CLI command, its errors, and a real run
against the fake Slack, stopped with SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

from typer.testing import CliRunner

from bot.cli import app
from tests.fakeslack import APP_TOKEN, BOT_TOKEN, SIGNING_SECRET, FakeSlack
from tests.slack.conftest import summary_of

NO_SLACK_ENV = {k: "" for k in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET")}


def test_missing_tokens_are_one_clear_line(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'database_url = "sqlite:///{tmp_path}/x.db"\n')
    r = CliRunner().invoke(app, ["serve", "--config", str(cfg)], env=NO_SLACK_ENV)
    assert r.exit_code == 2
    assert "no Slack bot token" in r.output
    r = CliRunner().invoke(app, ["serve", "--config", str(cfg), "--mode", "http"],
                           env={**NO_SLACK_ENV, "SLACK_BOT_TOKEN": "xoxb-1"})
    assert r.exit_code == 2 and "HTTP mode needs the signing secret" in r.output
    r = CliRunner().invoke(app, ["serve", "--config", str(cfg), "--mode", "carrier-pigeon"])
    assert r.exit_code == 2


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_serve_http_mode_end_to_end(fake: FakeSlack, tmp_path: Path) -> None:
    cfg = tmp_path / "hostsnap.toml"
    cfg.write_text("\n".join([
        f'database_url = "sqlite:///{tmp_path}/hostsnap.db"',
        "[capture]", 'collectors = ["limits", "memory", "network"]',
        "[slack]", f'api_base_url = "{fake.base_url}"', "[[authz]]",
        'groups = ["*"]', 'channels = ["*"]', 'user_groups = ["*"]', ""]))
    port = free_port()
    env = {**os.environ, "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": APP_TOKEN,
           "SLACK_SIGNING_SECRET": SIGNING_SECRET}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "serve", "--mode", "http", "--port", str(port),
        "--config", str(cfg), env=env, stderr=asyncio.subprocess.PIPE)
    try:
        fake.events_url = f"http://127.0.0.1:{port}/slack/events"
        assert fake._session is not None
        for _ in range(300):  # up within a few seconds (imports, migrations)
            try:
                async with fake._session.get(f"http://127.0.0.1:{port}/healthz") as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            await asyncio.sleep(0.05)
        ack = await fake.command("localhost")
        assert ack.status == 200
        msg, _ = await summary_of(fake)
        assert "Evidence saved — safe to restart." in msg.all_text
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()[-2000:]
    assert f"hostsnap serving (http mode); health and metrics on 127.0.0.1:{port}" \
        in err.decode()
