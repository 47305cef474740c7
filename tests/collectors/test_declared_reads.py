"""Collectors touch only what they declare: the guard refuses the rest, and
`hostsnap collectors` lists the same declaration the guard enforces."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import ClassVar

import pytest

from collectors import registry
from collectors.base import CollectContext, Collector, CollectorResult, HostInfo, Status
from collectors.plugin import GuardedSession, Reads, UndeclaredAccess
from collectors.runner import run_collector, run_collectors
from collectors.transport.local import LocalSession


class Sneaky(Collector):
    """Declares /proc/loadavg, then also reads /etc/shadow's neighbour."""

    name = "sneaky"
    description = "reads one file more than it declares"
    reads: ClassVar[Reads] = Reads(files=("/proc/loadavg",))

    async def collect(self, ctx: CollectContext, result: CollectorResult) -> None:
        await ctx.session.read_file("/proc/loadavg")
        result.parsed = {"load": 1}
        await ctx.session.read_files(["/proc/loadavg", "/etc/hostname"])


async def test_an_undeclared_read_raises_in_strict_mode() -> None:
    assert os.environ["HOSTSNAP_STRICT_READS"] == "1"  # tests/conftest.py
    ctx = CollectContext(LocalSession(), HostInfo("localhost"))
    with pytest.raises(UndeclaredAccess, match="'sneaky' did not declare files '/etc/hostname'"):
        await run_collector(Sneaky(), ctx)


async def test_an_undeclared_read_is_refused_in_production(monkeypatch) -> None:
    monkeypatch.setenv("HOSTSNAP_STRICT_READS", "0")
    ctx = CollectContext(LocalSession(), HostInfo("localhost"))
    r = await run_collector(Sneaky(), ctx)
    # refused (nothing of /etc/hostname read), the evidence gathered before kept
    assert r.status is Status.PARTIAL and r.parsed == {"load": 1}
    assert r.error == "refused: collector 'sneaky' did not declare files '/etc/hostname'"


async def test_the_guard_checks_every_kind_of_access() -> None:
    g = GuardedSession(LocalSession(), "t", Reads(
        files=("/proc/<pid>/status", "/sys/fs/cgroup/**/pids.{max,current}"),
        dirs=("/proc",), commands=("dmesg",), signals=("QUIT",),
        sockets=("/proc/<pid>/root/tmp/.java_pid<nspid>",), tcp=("127.0.0.1:*",)))
    assert b"Name:" in await g.read_file("/proc/self/status")
    assert (await g.read_files(["/proc/1/status"]))["/proc/1/status"] is not None
    assert "self" in await g.listdir("/proc")
    g.check("files", "/sys/fs/cgroup/a/b/c/pids.max")
    g.check("sockets", "/proc/12/root/tmp/.java_pid1")
    g.check("tcp", "127.0.0.1:6060")
    refused = [
        g.read_file("/proc/self/environ"), g.read_files(["/proc/1/status", "/etc/passwd"]),
        g.listdir("/etc"), g.readlink("/proc/self/exe"), g.run(["dmesg", "-c"]),
        g.run(["sh", "-c", "dmesg"]), g.signal(os.getpid(), "KILL"),
        g.open_unix("/var/run/docker.sock"), g.open_tcp("10.0.0.1", 6060),
        g.write_file("/tmp/x", b""), g.remove("/tmp/x"),
        g.read_range("/proc/self/fd/1", 0, 1), g.read_tail("/var/log/syslog", 10),
    ]
    for call in refused:
        with pytest.raises(UndeclaredAccess):
            await call
    for pat in ("/proc/1/status/../../etc/passwd", "/sys/fs/cgroup/pids.maxx",
                "/proc/1x/status"):
        assert not g.reads.allows("files", pat), pat


async def test_every_collector_reads_only_what_it_declares_on_localhost() -> None:
    """Strict mode on: an undeclared read would raise out of run_collectors."""
    ctx = CollectContext(LocalSession(), HostInfo("localhost"))
    results, _ = await run_collectors(ctx, list(registry.COLLECTORS.values()))
    by = {r.collector: r for r in results}
    assert by["limits"].status is Status.OK and by["memory"].status is Status.OK
    assert by["network"].status is Status.OK


def _cli(*args: str) -> str:
    r = subprocess.run([sys.executable, "-m", "bot", "collectors", *args],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_hostsnap_collectors_lists_the_enforced_declaration() -> None:
    doc = json.loads(_cli("--json"))
    by = {c["name"]: c for c in doc}
    assert list(by) == list(registry.COLLECTORS)
    for name, cls in registry.COLLECTORS.items():
        assert by[name]["reads"] == cls.reads.as_dict()
        assert by[name]["timeout"] == cls.timeout and by[name]["default"] == cls.default
    assert "/proc/<pid>/root/tmp/.java_pid<nspid>" in by["jvm"]["reads"]["sockets"]
    assert "dmesg" in by["memory"]["reads"]["commands"]
    text = _cli()
    assert "/proc/net/{tcp,tcp6,sockstat}" in text and "QUIT" in text
    assert "/var/run/docker.sock" in text
