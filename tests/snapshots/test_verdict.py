"""The verdict (issue 16): "Evidence saved — safe to restart" only when every
collector the capture expected reported and completed; otherwise what is
missing, why, and what is still worth trying — the same through `hostsnap
show` and the fake Slack. One test per path: complete, partial by a
collector's timeout, partial by a failed collector, interrupted by the overall
deadline, a joined capture. (Interrupted by a crash: test_verdict_lab.py and
tests/slack/test_e2e_resilience.py.)"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import ClassVar

import pytest

from bot.capture.service import CaptureService
from bot.config import CaptureSettings, Settings
from bot.render.slack import summary_message
from bot.render.verdict import SAFE, UNSAFE, verdict
from bot.store.service import Store
from bot.store.views import SnapshotView
from collectors import registry
from collectors.base import CollectContext, Collector, CollectorResult
from tests.fakeslack import FakeSlack
from tests.fakeslack.server import block_texts
from tests.slack.conftest import summary_of
from tests.slack.slowbot import SlowCollector


class BrokenCollector(Collector):
    name: ClassVar[str] = "broken"
    description: ClassVar[str] = "test only: fails like a collector bug would"
    default: ClassVar[bool] = False

    async def collect(self, ctx: CollectContext, result: CollectorResult) -> None:
        raise RuntimeError("jattach: connection refused")


@pytest.fixture
def collectors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry.COLLECTORS, "slow", SlowCollector)
    monkeypatch.setitem(registry.COLLECTORS, "broken", BrokenCollector)


async def _capture(tmp_path: Path, names: list[str], *, timeouts: dict[str, float] | None = None,
                   deadline_s: float | None = None) -> tuple[str, SnapshotView]:
    url = f"sqlite+aiosqlite:///{tmp_path}/hs.db"
    settings = Settings(database_url=url, capture=CaptureSettings(
        collectors=names, timeouts=timeouts or {}))
    store = await Store.open(url)
    try:
        svc = CaptureService(settings, store)
        (h,) = svc.inventory.resolve(["localhost"])
        (out,) = await svc.capture_many([h], deadline_s=deadline_s)
        assert out.snapshot is not None, out.error
        return url, out.snapshot
    finally:
        await store.close()


async def _show(url: str, sid: str, tmp_path: Path) -> str:
    """`hostsnap show ID` as a user runs it (a process of its own)."""
    env = {**os.environ, "HOSTSNAP_DATABASE_URL": url.replace("+aiosqlite", ""),
           "XDG_CONFIG_HOME": str(tmp_path / "noconfig"), "COLUMNS": "200"}
    env.pop("HOSTSNAP_CONFIG", None)
    r = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "bot", "show", sid],
                                env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


def _slack(v: SnapshotView) -> str:
    msg = summary_message(v)
    return msg.text + "\n" + "\n".join(block_texts(msg.blocks))


async def test_complete_is_safe_to_restart(tmp_path, monkeypatch) -> None:
    url, v = await _capture(tmp_path, ["limits", "memory"])
    assert v.status == "complete" and v.summary["expected"] == ["limits", "memory"]
    assert verdict(v).safe and not verdict(v).missing
    shown = await _show(url, v.id, tmp_path)
    assert SAFE in shown and "missing" not in shown
    assert f"*{SAFE}*" in _slack(v)


async def test_partial_by_a_collector_timeout_is_not_safe(tmp_path, monkeypatch,
                                                          collectors) -> None:
    monkeypatch.setenv("SLOW_SECONDS", "30")
    url, v = await _capture(tmp_path, ["limits", "slow"], timeouts={"slow": 0.5})
    assert v.status == "partial"
    shown = await _show(url, v.id, tmp_path)
    assert "missing slow — timeout: timed out after 0.5s" in shown
    assert "safe to restart" not in shown
    assert UNSAFE in shown
    assert "capture again: `hostsnap snapshot localhost`" in shown
    assert "`hostsnap watch localhost`" in shown
    s = _slack(v)
    assert "safe to restart" not in s
    assert "missing: slow — timeout: timed out after 0.5s" in s
    assert "capture again: `/snapshot localhost`" in s
    assert "`/snapshot watch localhost`" in s


async def test_partial_by_a_failed_collector_is_not_safe(tmp_path, monkeypatch,
                                                         collectors) -> None:
    url, v = await _capture(tmp_path, ["limits", "broken"])
    assert v.status == "partial"
    shown = await _show(url, v.id, tmp_path)
    assert "missing broken — failed: RuntimeError: jattach: connection refused" in shown
    assert "safe to restart" not in shown and UNSAFE in shown
    s = _slack(v)
    assert "missing: broken — failed: RuntimeError: jattach: connection refused" in s
    assert "safe to restart" not in s


async def test_interrupted_by_the_overall_deadline_is_not_safe(tmp_path, monkeypatch,
                                                               collectors) -> None:
    monkeypatch.setenv("SLOW_SECONDS", "30")
    url, v = await _capture(tmp_path, ["limits", "slow"], deadline_s=1.0)
    assert v.status == "partial"
    (m,) = verdict(v).missing
    assert m.collector == "slow" and m.why.startswith("timeout: overall deadline reached after")
    shown = await _show(url, v.id, tmp_path)
    assert "missing slow — timeout: overall deadline reached after 1.0s" in shown
    assert "safe to restart" not in shown
    assert "safe to restart" not in _slack(v)


async def test_a_collector_that_never_reported_is_missing(tmp_path, monkeypatch) -> None:
    """The crash path on the store alone: the snapshot knows what it expected."""
    url = f"sqlite+aiosqlite:///{tmp_path}/hs.db"
    store = await Store.open(url)
    try:
        sid = await store.create_snapshot("localhost", expected=["limits", "jvm"])
        await store.add_result(sid, CollectorResult("limits"))
        await store.mark_interrupted()
        v = await store.get_snapshot(sid)
    finally:
        await store.close()
    shown = await _show(url, sid, tmp_path)
    assert "missing jvm — never reported: the capture was interrupted" in shown
    assert "safe to restart" not in shown
    assert "`kill -QUIT PID` of the JVM" in shown
    s = _slack(v)
    assert "missing: jvm — never reported: the capture was interrupted" in s
    assert "safe to restart" not in s


async def test_a_joined_capture_gets_the_same_verdict(bot_factory, fake: FakeSlack,
                                                      monkeypatch, collectors) -> None:
    monkeypatch.setenv("SLOW_SECONDS", "30")
    monkeypatch.setattr(SlowCollector, "timeout", 1.0)
    bot = await bot_factory(collectors=["limits", "slow"])
    await asyncio.gather(fake.command("localhost", user="U1", channel="C1"),
                         fake.command("localhost", user="U2", channel="C2"))
    first, sid1 = await summary_of(fake, channel="C1")
    second, sid2 = await summary_of(fake, channel="C2")
    await bot.idle()
    assert sid1 == sid2  # one capture, joined
    for m in (first, second):
        t = m.all_text
        assert "missing: slow — timeout: timed out after 1s" in t, t
        assert "safe to restart" not in t
        assert UNSAFE in t
