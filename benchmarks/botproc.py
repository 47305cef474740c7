"""The bot in a process of its own, as `hostsnap serve` runs it, for the
benchmarks: the load generator and the fake Slack must not share the bot's
event loop (or its CPU time slices), or the figures measure them too.

Run as a script it is that process: it prints its HTTP port once serving."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.config import Settings
from bot.slack.serve import Running, serve


class BotProcess:
    def __init__(self, settings: Settings, env: dict[str, str] | None = None) -> None:
        self.settings = settings
        self.env = env or {}
        self.proc: asyncio.subprocess.Process | None = None
        self.port = 0

    async def start(self) -> int:
        env = {**os.environ, **self.env, "BENCH_SETTINGS": self.settings.model_dump_json()}
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, __file__, env=env, stdout=asyncio.subprocess.PIPE)
        assert self.proc.stdout is not None
        self.port = int((await asyncio.wait_for(self.proc.stdout.readline(), 60)).strip())
        return self.port

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            await self.proc.wait()


async def serve_child() -> None:
    settings = Settings.model_validate_json(os.environ["BENCH_SETTINGS"])
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)

    def ready(r: Running) -> None:
        sys.stdout.write(f"{r.port}\n")
        sys.stdout.flush()

    if os.environ.get("BENCH_PROFILE"):  # where the bot's time goes: a cProfile dump
        import cProfile

        with cProfile.Profile() as prof:
            await serve(settings, stop, ready)
        prof.dump_stats(f"{os.environ['BENCH_PROFILE']}.{settings.slack.mode}."
                        f"{len(settings.capture.collectors or [])}")
    else:
        await serve(settings, stop, ready)


if __name__ == "__main__":
    asyncio.run(serve_child())
