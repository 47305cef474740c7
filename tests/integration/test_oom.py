"""A real OOM kill (a memory cgroup with a small limit), then OOM_KILL."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import skip_or_fail
from tests.integration.helpers import service_for

pytestmark = pytest.mark.root


def _own_memcg() -> Path:
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            return Path("/sys/fs/cgroup/memory") / path.lstrip("/")
    skip_or_fail("no cgroup v1 memory controller here")
    raise AssertionError


@pytest.fixture
def oom_victim() -> int:
    cg = _own_memcg() / "hostsnap-oom-test"
    cg.mkdir(exist_ok=True)
    try:
        (cg / "memory.limit_in_bytes").write_text(str(32 * 2**20))
        code = "x = bytearray(300 * 2**20)\nx[::4096] = b'x' * (len(x) // 4096)\n"
        p = subprocess.Popen(
            [sys.executable, "-c", code],
            preexec_fn=lambda: (cg / "cgroup.procs").write_text("0"))
        assert p.wait(timeout=60) == -9, "the kernel should have killed it"
        yield p.pid
    finally:
        cg.rmdir()


async def test_oom_kill_named_from_the_kernel_log(oom_victim, tmp_path):
    _, store, svc = await service_for(tmp_path, [])
    try:
        out = await svc.capture(svc.inventory.resolve(["localhost"])[0],
                                collectors=["memory"])
        v = out.snapshot
        (f,) = [f for f in v.finding_list if f.rule == "OOM_KILL"]
        mem = v.parsed["memory"]
        assert mem["oom_kills_since_boot"] >= 1
        assert any(e["pid"] == oom_victim for e in mem["oom_events"]), mem["kernel_log"]
        assert "OOM kill" in f.title and "python3" in f.title
        # it just happened: dated from the kernel's stamp, and critical
        (ev,) = [e for e in mem["oom_events"] if e["pid"] == oom_victim]
        if "[" in ev["line"]:  # a log with the kernel's [uptime] stamps
            assert 0 <= ev["age_s"] < 120 and not ev["earlier_boot"]
            assert " s ago" in f.title or " min ago" in f.title
        assert f.severity == "critical"
    finally:
        await store.close()


async def test_oom_kill_counted_where_the_log_is_not_readable(oom_victim, host, tmp_path):
    """The SSH user may not read the kernel log (dmesg_restrict): the count
    from /proc/vmstat still says it happened, and the finding says why no names."""
    _, store, svc = await service_for(tmp_path, [host])
    try:
        out = await svc.capture(svc.inventory.resolve([host.name])[0], collectors=["memory"])
        v = out.snapshot
        (f,) = [f for f in v.finding_list if f.rule == "OOM_KILL"]
        assert f.data["count"] >= 1
        if Path("/proc/sys/kernel/dmesg_restrict").read_text().strip() == "1":
            assert "not permitted" in v.parsed["memory"]["kernel_log"]
    finally:
        await store.close()
