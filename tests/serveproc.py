"""`hostsnap serve` (bot.slack.serve) in a process of its own, for the tests
and benchmarks that need real processes (replicas, kill -9, a load generator
that must not share the bot's event loop).

The parent side, ServeProcess, starts a child script or module that calls
`serve_child()`: the settings go through the environment, the child prints
its HTTP port once serving, SIGTERM stops it."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Self

from bot.config import Settings

ROOT = Path(__file__).resolve().parents[1]
#: the environment variable carrying the child's settings (JSON)
SETTINGS_ENV = "HOSTSNAP_SERVE_SETTINGS"


async def stop_process(proc: asyncio.subprocess.Process | None, grace: float = 30.0) -> None:
    """SIGTERM, then SIGKILL if it is still there after `grace` seconds (our
    own child, by its pid)."""
    if proc is None or proc.returncode is not None:
        return
    proc.terminate()
    try:
        await asyncio.wait_for(proc.wait(), grace)
    except TimeoutError:
        proc.kill()
        await proc.wait()


class ServeProcess:
    """One serving child: `argv` after the interpreter (a script and its
    arguments, or -m and a module)."""

    def __init__(self, settings: Settings, argv: Sequence[str],
                 env: dict[str, str] | None = None) -> None:
        self.settings = settings
        self.argv = list(argv)
        self.env = env or {}
        self.proc: asyncio.subprocess.Process | None = None
        self.port = 0

    async def start(self) -> Self:
        env = {**os.environ, **self.env, SETTINGS_ENV: self.settings.model_dump_json()}
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, *self.argv, env=env, cwd=ROOT, stdout=asyncio.subprocess.PIPE)
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), 60)
        assert line.strip().isdigit(), f"{' '.join(self.argv)} did not start: {line!r}"
        self.port = int(line)
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def kill9(self) -> None:
        os.kill(self.pid, signal.SIGKILL)
        assert self.proc is not None
        await asyncio.wait_for(self.proc.wait(), 10)

    async def stop(self) -> None:
        await stop_process(self.proc)


def child_settings() -> Settings:
    return Settings.model_validate_json(os.environ[SETTINGS_ENV])


async def serve_child(settings: Settings | None = None) -> None:
    """The child's side: serve until SIGTERM, printing the port once up."""
    from bot.slack.serve import Running, serve

    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)

    def ready(r: Running) -> None:
        sys.stdout.write(f"{r.port}\n")
        sys.stdout.flush()

    await serve(settings or child_settings(), stop, ready)
