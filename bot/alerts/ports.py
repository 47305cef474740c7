"""What alert intake needs from the outside, as ports: a notifier (the chat
that shows an alert's capture and its resolution; Slack implements it in
bot/slack/alerts.py) and a task runner (work after the webhook's answer).
Alerts run and are tested without importing any interface."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from bot.alerts.payloads import Alert
from bot.inventory import InventoryHost


@dataclass(frozen=True)
class Job:
    """One capture an alert started."""

    alert: Alert
    alert_id: int
    host: InventoryHost
    route: str
    channel: str
    collectors: list[str] | None

    @property
    def actor(self) -> str:
        return f"alert:{self.alert.receiver}/{self.alert.alertname}"[:255]


class AlertNotifier(Protocol):
    async def capture(self, job: Job, deadline: float,
                      on_snapshot: Callable[[str], Awaitable[None]]
                      ) -> tuple[str | None, str, str]:
        """Capture job.host with its progress shown in job.channel, the alert in
        its thread; `on_snapshot` as soon as the snapshot exists. Returns
        (snapshot id, its status, error)."""
        ...

    async def resolved(self, channel: str, thread_ts: str, alert: Alert, host: str,
                       firing_since: datetime | None, *, covered: bool) -> bool:
        """Say in the snapshot's thread that the alert resolved (best effort)."""
        ...


class Tasks(Protocol):
    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Run after the webhook's answer; tracked so a stop waits for it."""
        ...
