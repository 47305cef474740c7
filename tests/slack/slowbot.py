"""Helpers for restart tests: a collector that never finishes on its own, and
`python -m tests.slack.slowbot` — the Slack service in a process of its own,
so a test can kill it with SIGKILL in the middle of a capture."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import ClassVar

from bot.config import Settings
from bot.slack.serve import Running, serve
from collectors import registry
from collectors.base import CollectContext, Collector, CollectorResult


class SlowCollector(Collector):
    name: ClassVar[str] = "slow"
    description: ClassVar[str] = "test only: takes `SLOW_SECONDS` (default 60)"
    timeout: ClassVar[float] = 120.0
    default: ClassVar[bool] = False

    async def collect(self, ctx: CollectContext, result: CollectorResult) -> None:
        await asyncio.sleep(float(os.environ.get("SLOW_SECONDS", "60")))


async def main() -> None:
    registry.COLLECTORS["slow"] = SlowCollector
    settings = Settings.model_validate(json.loads(os.environ["SLOWBOT_SETTINGS"]))

    def ready(r: Running) -> None:
        sys.stdout.write(f"{r.port}\n")
        sys.stdout.flush()

    await serve(settings, asyncio.Event(), ready)  # runs until killed


if __name__ == "__main__":
    asyncio.run(main())
