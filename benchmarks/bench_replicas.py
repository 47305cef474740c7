"""Captures per second that 1, 2 and 3 bot replicas sustain on one PostgreSQL
database (issue 17, "Several replicas"): what tells when to add a replica.

Each replica is `hostsnap serve` in a process of its own (as
benchmarks/botproc.py runs it), its inventory holding HOSTS pseudo-hosts that
are this machine (no SSH: what is measured is the bot, the job table and the
database, not a network). A round sends CAPTURES `/snapshot HOST` commands at
once, each for another host, spread round-robin over the replicas as a load
balancer would, and waits for every summary in the fake Slack. Every capture
goes through the shared job table (enqueue, take, lease, finish).

    .venv/bin/python benchmarks/bench_replicas.py [--captures 40] [--rounds 2]

Needs PostgreSQL on 127.0.0.1:5432 (user postgres; a throwaway database is
created and dropped). The figures are bounded by this machine's cores: all
replicas share them (and the fake Slack, and PostgreSQL)."""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import secrets
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.config import CaptureSettings, Settings
from bot.settings.slack import AuthzRule, SlackSettings
from tests.fakeslack import APP_TOKEN, BOT_TOKEN, SIGNING_SECRET, FakeSlack
from tests.serveproc import ServeProcess, serve_child

PG = os.environ.get("HOSTSNAP_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
COLLECTORS = ["limits", "memory", "network"]
SUMMARY = re.compile(r"^(\S+): snapshot [a-z0-9]{8} (\w+),")


def settings(fake: FakeSlack, db: str) -> Settings:
    return Settings(
        database_url=db, authz=[AuthzRule(groups=["*"], channels=["*"], user_groups=["*"])],
        capture=CaptureSettings(collectors=COLLECTORS),
        slack=SlackSettings(bot_token=BOT_TOKEN, app_token=APP_TOKEN,
                            signing_secret=SIGNING_SECRET, mode="http",
                            api_base_url=fake.base_url, http_host="127.0.0.1", http_port=0,
                            post_interval=0.0, update_interval=1.0),
    )


class Replica(ServeProcess):
    def __init__(self, s: Settings, hosts: int) -> None:
        super().__init__(s, [__file__, "--child"], {"BENCH_HOSTS": str(hosts)})

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/slack/events"

    def cpu_s(self) -> float:
        """CPU seconds this replica has used (user + system)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def send(http: aiohttp.ClientSession, fake: FakeSlack, r: Replica, host: str,
               channel: str) -> None:
    body = urlencode(fake.slash_payload(host, user="U1", channel=channel))
    headers = fake.signed_headers(body, "application/x-www-form-urlencoded")
    async with http.post(r.url, data=body.encode(), headers=headers,
                         timeout=aiohttp.ClientTimeout(total=10)) as resp:
        assert resp.status == 200, resp.status


def summaries(fake: FakeSlack, channel: str) -> dict[str, str]:
    """host -> status of the summaries posted in `channel`."""
    out = {}
    for m in fake.top_level(channel):
        if found := SUMMARY.match(m.text):
            out[found.group(1)] = found.group(2)
    return out


async def one_round(http: aiohttp.ClientSession, fake: FakeSlack, rs: list[Replica],
                    captures: int, channel: str) -> tuple[float, float]:
    """(seconds until every summary is posted, the replicas' CPU seconds)."""
    t0 = time.perf_counter()
    cpu0 = sum(r.cpu_s() for r in rs)
    await asyncio.gather(*(send(http, fake, rs[i % len(rs)], f"local-{i:03d}", channel)
                           for i in range(captures)))
    try:
        await fake.wait_for(lambda: len(summaries(fake, channel)) >= captures, 120,
                            f"{captures} summaries")
    except AssertionError:
        done = summaries(fake, channel)
        print("missing:", [(m.text[:300], m.updates) for m in fake.top_level(channel)
                           if not SUMMARY.match(m.text)], "summaries:", len(done),
              "messages:", len(fake.top_level(channel)), flush=True)
        raise
    elapsed = time.perf_counter() - t0
    bad = {h: st for h, st in summaries(fake, channel).items() if st not in ("complete",
                                                                             "partial")}
    assert not bad, bad
    return elapsed, sum(r.cpu_s() for r in rs) - cpu0


def psql(sql: str) -> None:
    subprocess.run(["psql", PG, "-v", "ON_ERROR_STOP=1", "-qc", sql], check=True,
                   capture_output=True, timeout=60)


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--captures", type=int, default=40, help="captures per round")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--replicas", default="1,2,3")
    args = ap.parse_args()
    name = f"hostsnap_bench_{secrets.token_hex(4)}"
    psql(f'CREATE DATABASE "{name}"')
    db = f"{PG.rsplit('/', 1)[0]}/{name}"
    fake = await FakeSlack().start()
    try:
        from bot.store.service import Store

        store = await Store.open(db)  # migrated once, before the replicas start
        print(f"{args.captures} captures at once ({'+'.join(COLLECTORS)} of this machine, "
              f"each another host), round-robin over the replicas; cpus: {os.cpu_count()}")
        async with aiohttp.ClientSession() as http:
            for n in (int(x) for x in args.replicas.split(",")):
                rs = list(await asyncio.gather(*(Replica(settings(fake, db),
                                                         args.captures).start()
                                                 for _ in range(n))))
                try:
                    await one_round(http, fake, rs, min(4, args.captures), f"W{n}")  # warm-up
                    runs = [await one_round(http, fake, rs, args.captures, f"R{n}-{k}")
                            for k in range(args.rounds)]
                finally:
                    await asyncio.gather(*(r.stop() for r in rs))
                best = min(t for t, _ in runs)
                cpu = min(c for _, c in runs) / args.captures
                print(f"{n} replica{'s' if n > 1 else ' '}: {args.captures / best:5.1f} "
                      f"captures/s (best of {args.rounds}: "
                      + ", ".join(f"{t:.2f}" for t, _ in runs) + " s per round); "
                      f"{cpu * 1000:.0f} ms of bot CPU per capture "
                      f"(= {1 / cpu:.0f} captures/s per core)")
        await store.close()
    finally:
        await fake.close()
        psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def child() -> None:
    """One replica: `serve` with HOSTS pseudo-hosts local-000... (this machine)."""
    from bot.inventory import Inventory, InventoryHost

    hosts = int(os.environ["BENCH_HOSTS"])
    base_init = Inventory.__init__

    def init(self: Inventory, s: Settings) -> None:
        base_init(self, s)
        for i in range(hosts):
            self.hosts[f"local-{i:03d}"] = InventoryHost(f"local-{i:03d}", "local")

    Inventory.__init__ = init  # type: ignore[method-assign,assignment]
    await serve_child()


if __name__ == "__main__":
    asyncio.run(child() if "--child" in sys.argv else main())
