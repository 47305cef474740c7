"""Alert intake runs on its ports alone: a notifier (here a channel log
standing in for Slack, the one allowed fake) that captures through the real
capture use case, and a task runner. No Slack bot is built."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.alerts.payloads import Alert, parse
from bot.alerts.ports import Job
from bot.alerts.service import AlertService
from bot.app import App
from bot.capture.progress import ProgressEvent
from bot.config import CaptureSettings, Settings
from bot.metrics import Metrics
from bot.watch.holds import WarmHolds
from bot.watch.service import WatchService
from tests.alerts.senders import COLLECTORS, alert_settings, am_alert, am_payload


class ChannelLog:
    """The notifier port: what a chat would show, as a list."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.lines: list[str] = []

    async def capture(self, job: Job, deadline: float,
                      on_snapshot: Callable[[str], Awaitable[None]]
                      ) -> tuple[str | None, str, str]:
        told: set[str] = set()

        async def progress(ev: ProgressEvent) -> None:
            if ev.snapshot_id not in told:
                told.add(ev.snapshot_id)
                await on_snapshot(ev.snapshot_id)

        o = await self.app.captures.capture(
            job.host, trigger="alert", actor=job.actor, collectors=job.collectors,
            on_progress=progress, deadline=deadline)
        self.lines.append(f"{job.channel}: {job.alert.alertname} on {job.host.name} -> "
                          f"{o.snapshot.status if o.snapshot else o.error}")
        if o.snapshot is None:
            return None, "failed", o.error or ""
        return o.snapshot.id, o.snapshot.status, o.snapshot.error or ""

    async def resolved(self, channel: str, thread_ts: str, alert: Alert, host: str,
                       firing_since: datetime | None, *, covered: bool) -> bool:
        self.lines.append(f"{channel}/{thread_ts}: {alert.alertname} resolved on {host}")
        return True


class Tasks:
    def __init__(self) -> None:
        self.running: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        t = asyncio.create_task(coro, name=name)
        self.running.add(t)
        return t


async def test_an_alert_captures_through_the_ports(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/a.db",
                        capture=CaptureSettings(collectors=COLLECTORS))
    app = await App.open(settings)
    try:
        log, tasks = ChannelLog(app), Tasks()
        svc = AlertService(
            alert_settings(), store=app.store, inventory=app.inventory,
            watch=WatchService(WarmHolds(app.store, app.pool, app.inventory, 60.0)),
            notifier=log, tasks=tasks, metrics=Metrics(), capture_deadline=30.0)
        body = json.dumps(am_payload(am_alert("HostThreadsNearLimit", instance="localhost")))
        alerts = parse("alertmanager", "am", body.encode(), max_alerts=100)
        (out,) = await svc.handle(alerts)
        assert (out.outcome, out.host, out.route) == ("capturing", "localhost", "threads")
        await asyncio.wait_for(asyncio.gather(*tasks.running), 60)
        assert log.lines == ["CINC: HostThreadsNearLimit on localhost -> complete"]
        (row,) = await svc.ledger.recent(5)
        assert row.outcome == "captured" and row.snapshot_id is not None
        view = await app.snapshots.find(row.snapshot_id)
        assert view.trigger == "alert" and view.host == "localhost"
    finally:
        await app.close()
