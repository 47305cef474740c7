"""One bot replica for the replica tests: `hostsnap serve` (bot.slack.serve,
as benchmarks/botproc.py runs it) in a process of its own, with the test
collector `slow` (SLOW_SECONDS) so a capture can be caught mid-way and the
process killed. Prints its HTTP port once serving; SIGTERM stops it."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from bot.config import Settings
from bot.slack.serve import Running, serve
from collectors import registry
from tests.slack.slowbot import SlowCollector


async def main() -> None:
    registry.COLLECTORS["slow"] = SlowCollector
    settings = Settings.model_validate_json(os.environ["REPLICA_SETTINGS"])
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)

    def ready(r: Running) -> None:
        sys.stdout.write(f"{r.port}\n")
        sys.stdout.flush()

    await serve(settings, stop, ready)


if __name__ == "__main__":
    asyncio.run(main())
