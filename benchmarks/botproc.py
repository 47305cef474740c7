"""The bot in a process of its own, as `hostsnap serve` runs it, for the
benchmarks: the load generator and the fake Slack must not share the bot's
event loop (or its CPU time slices), or the figures measure them too.

Run as a script it is that process (tests/serveproc.py: it prints its HTTP
port once serving); BENCH_PROFILE=PATH dumps a cProfile of it."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.config import Settings
from tests.serveproc import ServeProcess, child_settings, serve_child


class BotProcess(ServeProcess):
    def __init__(self, settings: Settings, env: dict[str, str] | None = None) -> None:
        super().__init__(settings, [__file__], env)


async def profiled_child() -> None:
    settings = child_settings()
    if os.environ.get("BENCH_PROFILE"):  # where the bot's time goes: a cProfile dump
        import cProfile

        with cProfile.Profile() as prof:
            await serve_child(settings)
        prof.dump_stats(f"{os.environ['BENCH_PROFILE']}.{settings.slack.mode}."
                        f"{len(settings.capture.collectors or [])}")
    else:
        await serve_child(settings)


if __name__ == "__main__":
    asyncio.run(profiled_child())
