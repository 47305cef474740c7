"""One bot replica for the replica tests: `hostsnap serve` in a process of
its own (tests/serveproc.py), with the test collector `slow` (SLOW_SECONDS)
so a capture can be caught mid-way and the process killed."""

from __future__ import annotations

import asyncio

from collectors import registry
from tests.serveproc import serve_child
from tests.slack.slowbot import SlowCollector

if __name__ == "__main__":
    registry.COLLECTORS["slow"] = SlowCollector
    asyncio.run(serve_child())
