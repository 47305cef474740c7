"""Slack bot figures, through the fake Slack of the tests (tests/fakeslack).

1. Ack latency: N concurrent signed /snapshot commands (HTTP mode, through
   bot/web.py and Bolt), or Socket Mode envelopes, while the captures they
   start run in the same process. Slack wants an ack within 3 s; target p99 < 100 ms.
2. Command -> summary posted: a /snapshot localhost, timed from sending the
   command to the chat.update (or postMessage) that carries "Evidence saved".
   Target < 2 s.

It prints figures and asserts nothing.

    .venv/bin/python benchmarks/bench_slack.py
    .venv/bin/python benchmarks/bench_slack.py --concurrent 50 --rounds 3 --e2e-runs 10
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.botproc import BotProcess
from bot.config import CaptureSettings, Settings
from bot.settings.slack import AuthzRule, SlackSettings
from collectors import registry
from tests.fakeslack import APP_TOKEN, BOT_TOKEN, SIGNING_SECRET, FakeSlack, Msg


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    k = max(0, min(len(xs) - 1, round(p / 100 * (len(xs) - 1))))
    return xs[k]


def ms(x: float) -> str:
    return f"{x * 1000:.1f}"


def bot_settings(fake: FakeSlack, db: str, mode: str, collectors: list[str] | None) -> Settings:
    return Settings(
        database_url=db, authz=[AuthzRule(groups=["*"], channels=["*"], user_groups=["*"],
                                  raw_files=True)],
        capture=CaptureSettings(collectors=collectors),
        slack=SlackSettings(bot_token=BOT_TOKEN, app_token=APP_TOKEN,
                            signing_secret=SIGNING_SECRET, mode=mode,
                            api_base_url=fake.base_url, http_port=0),
    )


class SlackBot(BotProcess):
    async def start_for(self, fake: FakeSlack) -> None:
        await self.start()
        fake.events_url = f"http://127.0.0.1:{self.port}/slack/events"
        if self.settings.slack.mode == "socket":
            await fake.wait_socket(30)


async def settle(fake: FakeSlack, expect: int, timeout: float = 120) -> None:
    """Until `expect` channels show a summary (the bot is in another process)."""
    def done() -> bool:
        n = sum(1 for m in fake.messages.values()
                if m.thread_ts is None and ("Evidence saved" in m.text
                                            or "Could not capture" in m.text))
        return n >= expect
    await fake.wait_for(done, timeout, f"{expect} summaries")


async def server_side_p99(fake: FakeSlack, port: int, mode: str) -> str:
    """The bot's own view (its /metrics histogram, request in -> ack out): an
    upper bound of p99 from the bucket it falls in."""
    assert fake._session is not None
    async with fake._session.get(f"http://127.0.0.1:{port}/metrics") as r:
        text = await r.text()
    buckets = []
    for line in text.splitlines():
        if line.startswith("hostsnap_slack_ack_seconds_bucket") and f'mode="{mode}"' in line:
            le = line.split('le="')[1].split('"')[0]
            buckets.append((float("inf") if le == "+Inf" else float(le), float(line.split()[-1])))
    total = buckets[-1][1]
    for le, count in buckets:
        if count >= 0.99 * total:
            return f"<= {le * 1000:g} ms" if le != float("inf") else "> 3 s"
    return "?"


async def http_burst(fake: FakeSlack, payloads: list[dict[str, str]]) -> list[float]:
    """Signed slash commands written at once on pre-opened connections, timed
    to each response: the load generator's own cost (an HTTP client library
    preparing 50 requests) stays out of the figures."""
    assert fake.events_url
    url = urlsplit(fake.events_url)
    conns = [await asyncio.open_connection(url.hostname, url.port) for _ in payloads]
    raw = []
    for p in payloads:
        body = urlencode(p)
        head = "".join(f"{k}: {v}\r\n" for k, v in fake.signed_headers(
            body, "application/x-www-form-urlencoded").items())
        raw.append((f"POST {url.path} HTTP/1.1\r\nHost: {url.netloc}\r\n{head}"
                    f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n{body}").encode())

    async def one(conn: tuple[asyncio.StreamReader, asyncio.StreamWriter], data: bytes
                  ) -> float:
        reader, writer = conn
        t0 = time.perf_counter()
        writer.write(data)
        status = await reader.readline()
        elapsed = time.perf_counter() - t0
        assert b" 200 " in status, status
        await reader.read()
        writer.close()
        return elapsed

    return list(await asyncio.gather(*(one(c, d) for c, d in zip(conns, raw, strict=True))))


async def acks(fake: FakeSlack, n: int, rounds: int, via: str) -> list[float]:
    out: list[float] = []
    for r in range(rounds):
        # one incident channel per command, each starting a capture
        payloads = [fake.slash_payload("localhost", channel=f"C{i:03d}", user=f"U{i}")
                    for i in range(n)]
        if via == "socket":
            res = await asyncio.gather(*(fake.command("localhost", channel=p["channel_id"],
                                                      user=p["user_id"], via="socket")
                                         for p in payloads))
            out += [a.elapsed for a in res]
        else:
            out += await http_burst(fake, payloads)
        await settle(fake, n * (r + 1))
    return out


_channels = itertools.count()


async def command_to_summary(fake: FakeSlack, runs: int) -> tuple[list[float], list[float]]:
    """(command -> summary posted, the capture's own duration as the summary says)."""
    out, captures = [], []
    for _ in range(runs):
        channel = f"CE{next(_channels)}"  # a fresh channel: only this run's messages
        t0 = time.perf_counter()
        await fake.command("localhost", channel=channel)

        def done(ch: str = channel) -> Msg | None:
            return next((m for m in fake.top_level(ch)
                         if "Evidence saved" in m.text or "Could not capture" in m.text), None)

        msg = await fake.wait_for(done, 60, "summary")
        out.append(time.perf_counter() - t0)
        took = re.search(r"\b(?:complete|partial) in ([0-9.]+)s", msg.all_text)
        if took:
            captures.append(float(took.group(1)))
        await asyncio.sleep(0.5)  # details in the thread, then the next run
    return out, captures


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--concurrent", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--e2e-runs", type=int, default=10)
    ap.add_argument("--only", choices=["acks", "e2e"], help="run one of the two parts")
    ap.add_argument("--db", default="", help="database URL (default: a temporary SQLite)")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench-slack-")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, "
          f"load {os.getloadavg()[0]:.1f}")

    host_cols = ["limits", "memory", "network"]
    all_cols = registry.default_names()
    fake = await FakeSlack().start()
    try:
        for mode in ("http", "socket") if args.only != "e2e" else ():
            db = args.db or f"sqlite+aiosqlite:///{tmp}/{mode}.db"
            bot = SlackBot(bot_settings(fake, db, mode, host_cols))
            await bot.start_for(fake)
            try:
                await acks(fake, 2, 1, mode)  # warm-up
                await asyncio.sleep(1)  # its details in the threads
                fake.reset()
                lat = await acks(fake, args.concurrent, args.rounds, mode)
                inside = await server_side_p99(fake, bot.port, mode)
                print(f"ack {mode:6}: {len(lat)} commands, {args.concurrent} at once, "
                      f"captures running: p50 {ms(pct(lat, 50))} ms, "
                      f"p99 {ms(pct(lat, 99))} ms, max {ms(max(lat))} ms "
                      f"(inside the bot: p99 {inside})")
            finally:
                await bot.stop()
            fake.reset()

        for label, cols in (("host collectors " + ",".join(host_cols), host_cols),
                            ("default collectors " + ",".join(all_cols), None)
                            ) if args.only != "acks" else ():
            db = args.db or f"sqlite+aiosqlite:///{tmp}/e2e-{len(cols or all_cols)}.db"
            bot = SlackBot(bot_settings(fake, db, "http", cols))
            await bot.start_for(fake)
            try:
                await command_to_summary(fake, 1)  # warm-up
                e2e, took = await command_to_summary(fake, args.e2e_runs)
                print(f"command -> summary posted, localhost, {label}: "
                      f"median {statistics.median(e2e):.2f} s, p90 {pct(e2e, 90):.2f} s, "
                      f"max {max(e2e):.2f} s ({len(e2e)} runs; the capture itself: median "
                      f"{statistics.median(took) if took else float('nan'):.2f} s)")
            finally:
                await bot.stop()
            fake.reset()
    finally:
        await fake.close()

if __name__ == "__main__":
    asyncio.run(main())
