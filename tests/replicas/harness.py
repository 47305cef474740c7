"""Bot replicas as real processes on one database, and Slack requests sent
to the replica of the test's choosing (a load balancer's pick)."""

from __future__ import annotations

import socket
from urllib.parse import urlencode

import aiohttp

from bot.config import Settings
from tests.fakeslack import FakeSlack
from tests.serveproc import ServeProcess


class Replica(ServeProcess):
    def __init__(self, name: str, settings: Settings, env: dict[str, str] | None = None) -> None:
        super().__init__(settings, ["-m", "tests.replicas.replica"], env)
        self.name = name

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/slack/events"

    @property
    def owner(self) -> str:
        """Its owner id in the database (bot.store.service.OWNER)."""
        return f"{socket.gethostname()}:{self.pid}"


async def command(fake: FakeSlack, replica: Replica, text: str, *, user: str,
                  channel: str) -> None:
    """`/snapshot text` as Slack sends it, to this replica; acked in time."""
    body = urlencode(fake.slash_payload(text, user=user, channel=channel))
    headers = fake.signed_headers(body, "application/x-www-form-urlencoded")
    async with aiohttp.ClientSession() as s, s.post(
            replica.url, data=body.encode(), headers=headers,
            timeout=aiohttp.ClientTimeout(total=5)) as r:
        assert r.status == 200, f"{replica.name}: {r.status} {await r.text()}"
