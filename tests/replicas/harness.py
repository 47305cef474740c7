"""Bot replicas as real processes on one database, and Slack requests sent
to the replica of the test's choosing (a load balancer's pick)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path
from urllib.parse import urlencode

import aiohttp

from bot.config import Settings
from tests.fakeslack import FakeSlack

ROOT = Path(__file__).resolve().parents[2]


class Replica:
    def __init__(self, name: str, settings: Settings, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.settings = settings
        self.env = env or {}
        self.proc: asyncio.subprocess.Process | None = None
        self.port = 0

    async def start(self) -> Replica:
        env = {**os.environ, **self.env, "REPLICA_SETTINGS": self.settings.model_dump_json()}
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.replicas.replica", env=env, cwd=ROOT,
            stdout=asyncio.subprocess.PIPE)
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), 60)
        assert line.strip().isdigit(), f"replica {self.name} did not start: {line!r}"
        self.port = int(line)
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/slack/events"

    @property
    def owner(self) -> str:
        """Its owner id in the database (bot.store.service.OWNER)."""
        assert self.proc is not None
        return f"{socket.gethostname()}:{self.proc.pid}"

    async def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        await asyncio.wait_for(self.proc.wait(), 10)

    async def stop(self) -> None:
        if self.proc is None or self.proc.returncode is not None:
            return
        self.proc.terminate()
        try:
            await asyncio.wait_for(self.proc.wait(), 30)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()


async def command(fake: FakeSlack, replica: Replica, text: str, *, user: str,
                  channel: str) -> None:
    """`/snapshot text` as Slack sends it, to this replica; acked in time."""
    body = urlencode(fake.slash_payload(text, user=user, channel=channel))
    headers = fake.signed_headers(body, "application/x-www-form-urlencoded")
    async with aiohttp.ClientSession() as s, s.post(
            replica.url, data=body.encode(), headers=headers,
            timeout=aiohttp.ClientTimeout(total=5)) as r:
        assert r.status == 200, f"{replica.name}: {r.status} {await r.text()}"
