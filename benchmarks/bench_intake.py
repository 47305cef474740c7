"""Intake while captures run (issue 17): Slack ack and alert webhook latency of
a real bot process (`hostsnap serve`, HTTP mode, fake Slack) while it captures
20 hosts, each running a 3 000-thread JVM (Http31Pool: incident 003's pool,
deep stacks), with the collectors limits, memory, network and jvm (3 attach
dumps per JVM). This machine's pid_max (32 768) does not fit 20 x 3 000
threads: 5 lab hosts run one JVM each, and the 20 inventory hosts are 4 names
for each (4 captures of the same JVM; the bot's work is 20 hosts' all the same).

Per mode, one fleet command `/snapshot @lab` starts the 20 captures; from its
ack until the last summary is posted the bench sends, open loop at a bounded
rate, signed `/snapshot list` slash commands (a new connection each, as Slack
does) and Alertmanager webhooks (keep-alive; a new alert each, for a host not
in the inventory: recorded, never captured). A request's latency counts from
when it was due (no coordinated omission). Modes: `pool` (dump parsing in
worker processes, collectors.offload) and `threads` (HOSTSNAP_WORKERS=0: in
threads of the bot's process, as before).

Run as root (the lab: sshd test hosts in network namespaces); about 2 minutes:
    .venv/bin/python benchmarks/bench_intake.py [--hosts 20] [--jvms 5] [--threads 3000]
        [--slack-rate 5] [--hook-rate 20] [--modes threads,pool]

Prints figures; asserts only that every capture completed. Only loopback and
the lab's own namespace addresses are contacted.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_alerts import Conn, fresh_pg, pct
from benchmarks.botproc import BotProcess
from bot.config import CaptureSettings, HostEntry, Settings, SSHSettings
from bot.settings.alerts import AlertSettings, Receiver, Route
from bot.settings.slack import AuthzRule, SlackSettings
from collectors.jvm import JvmOptions
from tests.alerts.senders import am_alert, am_payload
from tests.fakeslack import APP_TOKEN, BOT_TOKEN, SIGNING_SECRET, FakeSlack
from tests.lab.hosts import Lab, TestHost

ROOT = Path(__file__).resolve().parents[1]
JARS = ["httpclient.jar", "httpcore.jar", "commons-logging.jar", "commons-codec.jar",
        "commons-httpclient.jar"]
JAVA_OPTS = ["-Xss256k", "-Xmx64m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC",
             "-XX:-UsePerfData"]
TOKEN = "bench-intake-token"
CHANNEL = "CINTAKE"


def compile_workload(out: Path) -> str:
    """javac Http31Pool into a directory the lab's login user can read; the classpath."""
    jars = [Path("/usr/share/java") / j for j in JARS]
    cp = ":".join([str(out), *map(str, jars)])
    srcs = [ROOT / "tests/workloads/jvm" / f for f in ("Workload.java", "Http31Pool.java")]
    subprocess.run(["javac", "-nowarn", "-d", str(out), "-cp", cp, *map(str, srcs)],
                   check=True, capture_output=True, timeout=120)
    for p in [out, *out.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    return cp


def start_jvms(hosts: list[TestHost], cp: str, threads: int, logs: Path, nice: int,
               timeout: float = 120) -> list[subprocess.Popen[bytes]]:
    """One JVM per host as the SSH user (so attach works), each with `threads`
    request threads; returns once all print READY. The hosts' processes (the
    JVM, sshd and what it forks for each connection) at `nice`: on a fleet
    they are other machines, here they share the bot's CPUs."""
    procs = []
    for h in hosts:
        os.setpriority(os.PRIO_PROCESS, h.sshd_pid, nice)
        out = logs / f"{h.name}.out"
        fh = out.open("wb")
        os.chown(out, *_ids("snap"))
        argv = ["nice", "-n", str(nice), "java", *JAVA_OPTS, "-cp", cp, "Http31Pool", "600",
                str(threads)]
        procs.append(h.spawn(argv, user="snap", stdout=fh, stderr=subprocess.STDOUT))
    deadline = time.monotonic() + timeout
    for h, p in zip(hosts, procs, strict=True):
        out = logs / f"{h.name}.out"
        while b"READY" not in out.read_bytes():
            if p.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"JVM on {h.name} not ready: {out.read_text()[-500:]}")
            time.sleep(0.1)
        # its Attach Listener started now, as `hostsnap watch` arms it: every
        # capture attaches (no SIGQUIT into a log file re-read over SFTP)
        r = h.run(["jcmd", "Http31Pool", "VM.version"], user="snap", timeout=60)
        if r.returncode != 0:
            raise RuntimeError(f"jcmd on {h.name}: {r.stdout[-300:]} {r.stderr[-300:]}")
    return procs


def _ids(user: str) -> tuple[int, int]:
    import pwd

    pw = pwd.getpwnam(user)
    return pw.pw_uid, pw.pw_gid


def inventory(lab_hosts: list[TestHost], n: int) -> list[HostEntry]:
    """n inventory hosts over the lab's hosts (round robin)."""
    return [HostEntry(name=f"jvm-{i:02d}", address=h.address, port=h.port, user=h.user,
                      key_file=str(h.key_file), known_hosts=str(h.known_hosts_file),
                      group="lab")
            for i, h in zip(range(n), itertools.cycle(lab_hosts), strict=False)]


DEFAULT_CONNECT = CaptureSettings().connect_concurrency


def bot_settings(fake: FakeSlack, db: str, hosts: list[HostEntry],
                 connect: int | None = None) -> Settings:
    return Settings(
        database_url=db,
        authz=[AuthzRule(groups=["*"], channels=["*"], user_groups=["*"])],
        hosts=hosts,
        ssh=SSHSettings(retries=1, connect_timeout=5, use_agent=False),
        capture=CaptureSettings(collectors=["limits", "memory", "network", "jvm"],
                                concurrency=len(hosts), deadline=90, queue_timeout=90,
                                connect_concurrency=connect or DEFAULT_CONNECT),
        jvm=JvmOptions(dumps=3, spacing=2.0, allow_jcmd=False),
        slack=SlackSettings(bot_token=BOT_TOKEN, app_token=APP_TOKEN,
                            signing_secret=SIGNING_SECRET, mode="http",
                            api_base_url=fake.base_url, http_port=0,
                            max_hosts=len(hosts)),
        alerts=AlertSettings(
            receivers=[Receiver(name="am", kind="alertmanager", auth="bearer",
                                token_env="BENCH_AM_TOKEN")],
            routes=[Route(name="critical", severity=["critical"], channel=CHANNEL)]),
    )


def slash_request(fake: FakeSlack, text: str, channel: str, user: str) -> bytes:
    assert fake.events_url
    url = urlsplit(fake.events_url)
    body = urlencode(fake.slash_payload(text, channel=channel, user=user))
    head = "".join(f"{k}: {v}\r\n" for k, v in fake.signed_headers(
        body, "application/x-www-form-urlencoded").items())
    return (f"POST {url.path} HTTP/1.1\r\nHost: {url.netloc}\r\n{head}"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n{body}").encode()


async def slash(port: int, data: bytes) -> int:
    """One command on a new connection, until the ack's status line."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        return int((await asyncio.wait_for(reader.readline(), 10)).split()[1])
    finally:
        writer.close()


def hook_request(port: int, n: int) -> bytes:
    body = json.dumps(am_payload(am_alert(f"Probe{n}", instance=f"ghost-{n % 50}:9100"))).encode()
    return (f"POST /alerts/am HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/json\r\nAuthorization: Bearer {TOKEN}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


async def probe(rate: float, stop: asyncio.Event, send: object, conns: int = 1
                ) -> tuple[list[float], list[int], list[float]]:
    """Open loop: request i is due at t0 + i/rate; its latency counts from then.
    `send(i, worker)` sends request i and returns its HTTP status; `conns`
    senders share the schedule. (latencies, statuses other than 200, when each
    request was due, s from the start)"""
    out: list[float] = []
    bad: list[int] = []
    when: list[float] = []
    t0 = time.perf_counter()
    counter = itertools.count()

    async def sender(w: int) -> None:
        while not stop.is_set():
            i = next(counter)
            due = t0 + i / rate
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            if stop.is_set():
                return
            status = await send(i, w)  # type: ignore[operator]
            out.append(time.perf_counter() - due)
            when.append(due - t0)
            if status != 200:
                bad.append(status)

    await asyncio.gather(*(sender(w) for w in range(conns)))
    return out, bad, when


_SUMMARY = re.compile(r"^(jvm-\d+): (?:snapshot \w+ (\w+),|Could not capture)")


def summaries(fake: FakeSlack) -> dict[str, str]:
    """Host -> its capture's status, from the summaries posted in the fleet's thread."""
    out = {}
    for m in list(fake.messages.values()):
        hit = _SUMMARY.match(m.text) if m.channel == CHANNEL else None
        if hit:
            out[hit[1]] = hit[2] or "failed"
    return out


async def run_mode(mode: str, fake: FakeSlack, hosts: list[HostEntry], tmp: Path,
                   slack_rate: float, hook_rate: float, limit: float,
                   profile: Path | None = None, pg: str | None = None, calm_s: float = 5.0,
                   connect: int | None = None) -> dict[str, object]:
    db = fresh_pg(pg) if pg else f"sqlite+aiosqlite:///{tmp}/{mode}.db"
    env = {"BENCH_AM_TOKEN": TOKEN, "HOSTSNAP_WORKERS": "0" if mode == "threads" else ""}
    bot = BotProcess(bot_settings(fake, db, hosts, connect), env)
    port = (await bot.start()).port
    fake.events_url = f"http://127.0.0.1:{port}/slack/events"
    try:
        # warm-up: one capture (connections, imports, the worker pool started)
        await slash(port, slash_request(fake, hosts[0].name, "CWARM", "UW"))
        await fake.wait_for(lambda: any("Evidence saved" in m.text or "Could not" in m.text
                                        for m in fake.top_level("CWARM")), 60, "warm-up")
        await asyncio.sleep(1.0)  # its details in the thread
        fake.reset()
        hook_conns = [await Conn.open(port) for _ in range(4)]
        hooks_sent = itertools.count()

        async def send_slash(i: int, w: int) -> int:
            return await slash(port, slash_request(fake, "list", f"CP{i % 10}", f"UP{i}"))

        async def send_hook(i: int, w: int) -> int:
            status, _, _ = await hook_conns[w].post(hook_request(port, next(hooks_sent)))
            return status

        spy = None
        if profile is not None:  # what holds the bot's GIL while captures run
            assert bot.proc is not None
            spy = await asyncio.create_subprocess_exec(
                str(Path(sys.executable).parent / "py-spy"), "record", "--gil", "--nonblocking",
                "-f", "raw", "-r", "200", "-o", str(profile / f"{mode}.txt"),
                "-p", str(bot.proc.pid), stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL)
        # calm: the same probes with no capture running, as a baseline
        calm_stop = asyncio.Event()
        calm = asyncio.gather(probe(slack_rate, calm_stop, send_slash, 4),
                              probe(hook_rate, calm_stop, send_hook, len(hook_conns)))
        await asyncio.sleep(calm_s)
        calm_stop.set()
        calm_acks, calm_hooks = await calm
        stop = asyncio.Event()
        t0 = time.perf_counter()
        await slash(port, slash_request(fake, "@lab", CHANNEL, "UFLEET"))
        probes = asyncio.gather(probe(slack_rate, stop, send_slash, 4),
                                probe(hook_rate, stop, send_hook, len(hook_conns)))
        try:
            await fake.wait_for(lambda: len(summaries(fake)) >= len(hosts), limit,
                                f"{len(hosts)} summaries")
        except AssertionError:
            print(f"  captures not all done: {summaries(fake)}")
            raise
        finally:
            captured = time.perf_counter() - t0
            stop.set()
            acks, hooks = await probes
            for c in hook_conns:
                c.close()
            if spy is not None:
                spy.send_signal(2)  # SIGINT: py-spy writes its file
                await spy.wait()
        complete = list(summaries(fake).values()).count("complete")
        inside = await server_p99(port)
        return {"mode": mode, "acks": acks, "hooks": hooks, "captured_s": captured,
                "calm_acks": calm_acks, "calm_hooks": calm_hooks,
                "complete": complete, "inside": inside}
    finally:
        await bot.stop()
        fake.reset()


async def server_p99(port: int) -> str:
    """The bot's own view (its /metrics histograms, request in -> response
    out): the bucket each p99 falls in."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    text = (await reader.read()).decode()
    writer.close()
    out = []
    for name, metric in (("ack", "hostsnap_slack_ack_seconds_bucket"),
                         ("webhook", "hostsnap_alert_webhook_seconds_bucket")):
        buckets = [(float(le) if (le := ln.split('le="')[1].split('"')[0]) != "+Inf"
                    else float("inf"), float(ln.split()[-1]))
                   for ln in text.splitlines() if ln.startswith(metric)]
        if buckets:
            total = buckets[-1][1]
            top = next(b for b, c in buckets if c >= 0.99 * total)
            out.append(f"{name} p99 <= {top * 1000:g} ms")
    return ", ".join(out)


def line(name: str, xs: list[float], bad: list[int], when: list[float]) -> str:
    errors = f"  not 200: {len(bad)} ({sorted(set(bad))})" if bad else ""
    slow = sorted(zip(xs, when, strict=True))[-3:]
    errors += "  slowest at " + ", ".join(f"{t:.1f} s" for _, t in slow)
    return (f"{name:9} n={len(xs):4}  p50 {pct(xs, 50) * 1000:6.1f} ms  p99 "
            f"{pct(xs, 99) * 1000:6.1f} ms  max {max(xs) * 1000:6.1f} ms{errors}")


async def bench(args: argparse.Namespace, hosts: list[HostEntry], tmp: Path) -> None:
    fake = await FakeSlack().start()
    try:
        for mode in args.modes.split(","):
            r = await run_mode(mode, fake, hosts, tmp, args.slack_rate, args.hook_rate,
                               args.limit, args.profile, args.pg,
                               connect=args.connect_concurrency)
            print(f"\n## {mode}: {len(hosts)} captures of {args.threads}-thread JVM hosts, "
                  f"all in {r['captured_s']:.1f} s ({r['complete']} complete), "
                  f"capture.connect_concurrency {args.connect_concurrency or 'default'}")
            print(line("calm ack", *r["calm_acks"]))  # type: ignore[misc]
            print(line("calm hook", *r["calm_hooks"]))  # type: ignore[misc]
            print(line("slack ack", *r["acks"]))  # type: ignore[misc]
            print(line("webhook", *r["hooks"]))  # type: ignore[misc]
            print(f"inside the bot (its histograms): {r['inside']}")
    finally:
        await fake.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hosts", type=int, default=20)
    ap.add_argument("--jvms", type=int, default=5, help="lab hosts, one JVM each")
    ap.add_argument("--threads", type=int, default=3000)
    ap.add_argument("--slack-rate", type=float, default=5.0, help="slash commands/s")
    ap.add_argument("--hook-rate", type=float, default=20.0, help="webhooks/s")
    ap.add_argument("--modes", default="threads,pool")
    ap.add_argument("--nice", type=int, default=19,
                    help="the lab hosts' processes' nice (0: compete with the bot as equals)")
    ap.add_argument("--profile", type=Path, help="py-spy the bot (--gil) into DIR/MODE.txt")
    ap.add_argument("--pg", help="PostgreSQL DSN (a database is created per mode); "
                                 "default: an SQLite file")
    ap.add_argument("--limit", type=float, default=90.0, help="longest wait for the captures")
    ap.add_argument("--connect-concurrency", type=int,
                    help="capture.connect_concurrency (default: the setting's default)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-intake-"))
    tmp.chmod(0o755)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, "
          f"load {os.getloadavg()[0]:.1f}")
    t0 = time.perf_counter()
    cp = compile_workload(tmp / "classes")
    lab = Lab(tmp / "lab")
    jvms: list[subprocess.Popen[bytes]] = []
    try:
        lab_hosts = [lab.add_host(f"lab-{i:02d}") for i in range(args.jvms)]
        (tmp / "logs").mkdir(mode=0o777)
        (tmp / "logs").chmod(0o777)
        jvms = start_jvms(lab_hosts, cp, args.threads, tmp / "logs", args.nice)
        print(f"lab: {args.jvms} hosts, a {args.threads}-thread JVM each, up in "
              f"{time.perf_counter() - t0:.1f} s; {args.hosts} inventory hosts on them; "
              f"the hosts' processes at nice {args.nice}")
        asyncio.run(bench(args, inventory(lab_hosts, args.hosts), tmp))
    finally:
        for p in jvms:
            p.kill()
            p.wait()
        lab.close()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\nwhole run {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
