"""Every view of a snapshot, of a raw file and of a diff leaves the same audit
row whichever interface it came through (the CLI on this machine, Slack); the
raw file is redacted for Slack and as stored on the local terminal."""

from __future__ import annotations

import asyncio
import getpass
from typing import Any

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.store.service import Store
from tests.fakeslack import FakeSlack
from tests.slack.test_e2e_browse import seed


def _rows(events: list[Any]) -> list[tuple[str, str, str | None, str, str | None]]:
    """(action, target, snapshot id, interface, older) of the audit rows, oldest first."""
    return [(e.action, e.target, e.snapshot_id, e.detail.get("interface"),
             e.detail.get("older")) for e in reversed(events)]


@pytest.fixture
def cli(db_url: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("HOSTSNAP_DATABASE_URL", db_url)
    monkeypatch.delenv("HOSTSNAP_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "noconfig"))
    runner = CliRunner()

    async def run(*args: str) -> str:
        # the CLI runs its own event loop: in a thread, beside the test's
        r = await asyncio.to_thread(runner.invoke, app, list(args))
        assert r.exit_code == 0, (r.output, r.exception)
        return r.stdout

    return run


async def test_cli_and_slack_views_leave_the_same_audit_rows(
        bot: Any, fake: FakeSlack, store: Store, cli: Any) -> None:
    first = await seed(store)
    sid = await seed(store)  # the same host again: `diff` compares with `first`

    # the CLI on this machine: show, one raw file as stored, diff with the previous
    await cli("show", sid)
    raw = await cli("show", sid, "--raw", "threads.tsv")
    assert "hunter2" in raw  # the local terminal gets the evidence as stored
    await cli("diff", sid)
    by_cli = await store.audit_events(limit=50)
    assert {e.actor for e in by_cli} == {f"cli:{getpass.getuser()}"}

    # Slack: the same three views
    await fake.command(f"show {sid}", user="U2")
    await bot.idle()
    (msg,) = fake.top_level()
    await fake.click(msg, "Raw files", user="U2")
    await bot.idle()
    await fake.command(f"diff {sid}", user="U2")
    await bot.idle()
    files = {f.filename: f.content for f in fake.files_in("C1", msg.ts)}
    assert b"hunter2" not in files[f"{sid}-threads.tsv"]  # redacted for Slack
    by_slack = [e for e in (await store.audit_events(limit=50))[:-len(by_cli)]
                if not e.action.startswith("slack_")]  # the command itself, Slack's own
    assert {e.actor for e in by_slack} == {"slack:U2"}

    cli_rows = _rows(by_cli)
    slack_rows = [r for r in _rows(by_slack)  # Slack uploads every raw file: compare one
                  if r[0] != "view_raw" or r[1] == "threads.tsv"]
    assert cli_rows == [
        ("view", "web-03", sid, "cli", None),
        ("view_raw", "threads.tsv", sid, "cli", None),
        ("diff", "web-03", sid, "cli", first),
    ]
    assert [r[:3] + r[4:] for r in slack_rows] == [r[:3] + r[4:] for r in cli_rows]
    assert {r[3] for r in slack_rows} == {"slack"}
    # both raw-file rows say where the file went and how many secrets were hidden
    (slack_raw,) = [e for e in by_slack if e.target == "threads.tsv"]
    assert slack_raw.detail["sink"] == "slack" and slack_raw.detail["redactions"] >= 1
