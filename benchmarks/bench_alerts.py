"""Alert webhook figures: storms of Alertmanager deliveries against the bot
running as `hostsnap serve` runs it (in a process of its own), Slack faked by
tests/fakeslack, every address on loopback.

1. storm: 1 000 deliveries of one alert (localhost) -> 1 capture.
2. grouped: 10 alert groups x 10 hosts, each group delivered 100 times
   (1 000 deliveries, 10 000 alerts) -> 10 captures, one per host; the hosts
   are inventory entries on 127.0.0.1 port 1, so their captures fail at once
   (refused) yet are real snapshots and Slack messages.
3. replicas: the storm spread over two bot processes sharing one database
   (SQLite file; with --pg DSN also PostgreSQL) -> 1 capture.

Target: 1 000 deliveries within 10 s, p99 under 50 ms, exactly the expected
captures. Latency is request written -> response read, on keep-alive
connections (`--parallel` of them). It prints figures and asserts nothing.

    .venv/bin/python benchmarks/bench_alerts.py
    .venv/bin/python benchmarks/bench_alerts.py --deliveries 1000 --parallel 20 \\
        --pg postgresql://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.botproc import BotProcess
from bot.config import CaptureSettings, HostEntry, Settings, SSHSettings
from bot.settings.alerts import AlertSettings, Receiver, Route
from bot.settings.slack import AuthzRule, SlackSettings
from bot.store.service import Store
from tests.alerts.senders import am_alert, am_payload
from tests.fakeslack import APP_TOKEN, BOT_TOKEN, SIGNING_SECRET, FakeSlack

TOKEN = "bench-token-" + uuid.uuid4().hex[:8]
CHANNEL = "CBENCH"
HOSTS = [HostEntry(name=f"dead-{i:02d}", address="127.0.0.1", port=1) for i in range(1, 11)]


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[max(0, min(len(xs) - 1, round(p / 100 * (len(xs) - 1))))]


def bot_settings(fake: FakeSlack, db: str) -> Settings:
    return Settings(
        database_url=db, authz=[AuthzRule(groups=["*"], channels=["*"], user_groups=["*"])],
        hosts=HOSTS,
        ssh=SSHSettings(retries=0, connect_timeout=2),
        capture=CaptureSettings(collectors=["limits", "memory", "network"]),
        slack=SlackSettings(bot_token=BOT_TOKEN, app_token=APP_TOKEN,
                            signing_secret=SIGNING_SECRET, mode="http",
                            api_base_url=fake.base_url, http_port=0),
        alerts=AlertSettings(
            receivers=[Receiver(name="am", kind="alertmanager", auth="bearer",
                                token_env="BENCH_AM_TOKEN")],
            routes=[Route(name="critical", severity=["critical"], channel=CHANNEL)],
            cooldown=600, budget_per_minute=100, concurrency=5),
    )


class Conn:
    """One keep-alive HTTP/1.1 connection; the request bytes are prepared
    before the clock starts, so the figures are the bot's, not a client library's."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Conn:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def post(self, request: bytes) -> tuple[int, bytes, float]:
        t0 = time.perf_counter()
        self.writer.write(request)
        status = int((await self.reader.readline()).split()[1])
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        body = await self.reader.readexactly(length)
        return status, body, time.perf_counter() - t0

    def close(self) -> None:
        self.writer.close()


def request(port: int, payload: dict[str, Any]) -> bytes:
    body = json.dumps(payload).encode()
    return (f"POST /alerts/am HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/json\r\nAuthorization: Bearer {TOKEN}\r\n"
            f"User-Agent: Alertmanager/0.27.0\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode() + body


async def deliver(ports: list[int], payloads: list[dict[str, Any]], parallel: int,
                  rate: float | None) -> tuple[list[float], list[str], float]:
    """Every payload once over `parallel` connections spread over the replicas.
    rate=None: as fast as the bot answers (closed loop). Else open loop: request
    i is due at i/rate s, and its latency counts from then (a late sender must
    not hide the bot's slowness: no coordinated omission)."""
    conns = [await Conn.open(ports[i % len(ports)]) for i in range(parallel)]
    unique = {id(p): p for p in payloads}
    raw = {(port, k): request(port, p) for port in ports for k, p in unique.items()}
    todo = iter(enumerate(payloads))
    latencies: list[float] = []
    outcomes: list[str] = []
    t0 = time.perf_counter()

    async def worker(c: Conn, port: int) -> None:
        for i, p in todo:
            due = t0 + i / rate if rate else time.perf_counter()
            if rate:
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
            status, body, took = await c.post(raw[port, id(p)])
            if status != 200:
                raise RuntimeError(f"HTTP {status}: {body[:200]!r}")
            latencies.append(time.perf_counter() - due if rate else took)
            outcomes.extend(a["outcome"] for a in json.loads(body)["alerts"])

    await asyncio.gather(*(worker(c, ports[i % len(ports)]) for i, c in enumerate(conns)))
    wall = time.perf_counter() - t0
    for c in conns:
        c.close()
    return latencies, outcomes, wall


async def settle(fake: FakeSlack, expect: int, timeout: float = 120) -> int:
    """Until `expect` capture summaries are in the channel (and a little longer,
    so an extra one would show); returns how many there are."""
    def summaries() -> int:
        return sum(1 for m in fake.top_level(CHANNEL)
                   if "Evidence saved" in m.text or " failed" in m.text
                   or "Could not capture" in m.text)

    await fake.wait_for(lambda: summaries() >= expect, timeout, f"{expect} summaries")
    await asyncio.sleep(1.0)
    return summaries()


async def server_p99(port: int) -> str:
    """The bot's own view (its histogram, request in -> response out): the
    bucket p99 falls in."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    text = (await reader.read()).decode()
    writer.close()
    buckets = []
    for line in text.splitlines():
        if line.startswith("hostsnap_alert_webhook_seconds_bucket"):
            le = line.split('le="')[1].split('"')[0]
            buckets.append((float("inf") if le == "+Inf" else float(le),
                            float(line.split()[-1])))
    if not buckets:
        return "?"
    total = buckets[-1][1]
    le = next(b for b, c in buckets if c >= 0.99 * total)
    return f"<= {le * 1000:g} ms" if le != float("inf") else "> 3 s"


async def scenario(name: str, db: str, replicas: int, payloads: list[dict[str, Any]],
                   expect: int, parallel: int, rate: float | None) -> None:
    fake = await FakeSlack().start()
    bots = [BotProcess(bot_settings(fake, db), {"BENCH_AM_TOKEN": TOKEN})
            for _ in range(replicas)]
    try:
        for b in bots:  # one after the other: the first creates the schema
            await b.start()
        lat, outcomes, wall = await deliver([b.port for b in bots], payloads, parallel, rate)
        shown = await settle(fake, expect)
        store = await Store.open(db, migrate=False)
        snapshots = await store.count_snapshots()
        await store.close()
        server = await server_p99(bots[0].port)
    finally:
        for b in bots:
            await b.stop()
        await fake.close()
    counts = {o: outcomes.count(o) for o in sorted(set(outcomes))}
    ok = "OK" if snapshots == expect == shown else "MISMATCH"
    pace = f"paced {rate:g}/s" if rate else "burst"
    print(f"{name}, {pace}: {len(payloads)} deliveries ({len(outcomes)} alerts) to "
          f"{replicas} replica(s) on {db.split(':', 1)[0].split('+')[0]}, "
          f"{parallel} connections")
    print(f"  wall {wall:.2f} s ({len(payloads) / wall:.0f}/s); latency ms p50 "
          f"{pct(lat, 50) * 1000:.1f} p95 {pct(lat, 95) * 1000:.1f} p99 "
          f"{pct(lat, 99) * 1000:.1f} max {max(lat) * 1000:.1f} "
          f"(mean {statistics.mean(lat) * 1000:.1f}); server-side p99 {server}")
    print(f"  outcomes {counts}")
    print(f"  captures: {snapshots} snapshots, {shown} Slack summaries, expected {expect}: {ok}")


def fresh_pg(dsn: str) -> str:
    name = f"hostsnap_bench_{uuid.uuid4().hex[:6]}"
    subprocess.run(["psql", dsn, "-qc", f'CREATE DATABASE "{name}"'], check=True)
    return f"{dsn.rsplit('/', 1)[0]}/{name}"


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--deliveries", type=int, default=1000)
    ap.add_argument("--parallel", type=int, default=20)
    ap.add_argument("--rate", type=float, default=200.0,
                    help="deliveries/s of the paced runs (the target is 1000 in 10 s)")
    ap.add_argument("--pg", help="PostgreSQL DSN (a database is created for each run)")
    args = ap.parse_args()
    n = args.deliveries
    tmp = Path(tempfile.mkdtemp(prefix="bench-alerts-"))
    runs = iter(range(1000))

    def db(pg: bool = False) -> str:
        return fresh_pg(args.pg) if pg else f"sqlite+aiosqlite:///{tmp}/{next(runs)}.db"

    one = am_payload(am_alert("HostThreadsNearLimit", instance="localhost:9100"))
    groups = [am_payload(*[am_alert(f"Threads{g}", instance=f"{h.name}:9100") for h in HOSTS])
              for g in range(10)]
    grouped = [groups[i % len(groups)] for i in range(n)]
    for rate in (args.rate, None):
        await scenario("storm", db(), 1, [one] * n, 1, args.parallel, rate)
        await scenario("grouped", db(), 1, grouped, len(HOSTS), args.parallel, rate)
        await scenario("replicas", db(), 2, [one] * n, 1, args.parallel, rate)
        if args.pg:
            await scenario("replicas", db(pg=True), 2, [one] * n, 1, args.parallel, rate)
            await scenario("grouped", db(pg=True), 2, grouped, len(HOSTS), args.parallel, rate)


if __name__ == "__main__":
    asyncio.run(main())
