"""memory: meminfo, cgroup memory limits, OOM kills (001)."""

from __future__ import annotations

import asyncio

from collectors.analysis.hostmodels import CgroupMemory, MemorySummary
from collectors.analysis.kernlog import parse_oom_kills
from collectors.analysis.procfs import CgroupRef, parse_int, parse_kv, parse_proc_cgroup
from collectors.base import Artifact, CollectContext, Collector, CollectorResult
from collectors.cgroups import read_levels
from collectors.plugin import Reads
from collectors.procscan import PROCSCAN_READS, shared_scan
from collectors.transport.base import HostSession, PathGone, TransportError

KERNEL_LOGS = ("/var/log/kern.log", "/var/log/messages")
LOG_TAIL = 2 * 1024 * 1024
UNLIMITED = 1 << 60  # cgroup v1 reports "no limit" as a huge number


class MemoryCollector(Collector):
    name = "memory"
    description = "meminfo, cgroup memory vs limit, OOM kills"
    reads = PROCSCAN_READS | Reads(
        files=("/proc/{meminfo,vmstat,uptime}", "/var/log/{kern.log,messages}",
               "/sys/fs/cgroup/**/memory.{limit_in_bytes,usage_in_bytes,oom_control}",
               "/sys/fs/cgroup/**/memory.{max,current,events}"),
        dirs=("/sys/fs/cgroup",),
        commands=("dmesg",),
        notes=("kernel logs: the last 2 MiB; dmesg only when no log file is readable and "
               "/proc/vmstat counts an OOM kill",),
    )
    timeout = 8.0

    async def collect(self, ctx: CollectContext, result: CollectorResult) -> None:
        s = ctx.session
        files, table = await asyncio.gather(
            s.read_files(["/proc/meminfo", "/proc/vmstat", "/proc/uptime"]), shared_scan(ctx)
        )
        mi = parse_kv(files["/proc/meminfo"])
        vm = parse_kv(files["/proc/vmstat"])
        summary = MemorySummary(
            mem_total_kb=mi.get("MemTotal", 0),
            mem_available_kb=mi.get("MemAvailable", mi.get("MemFree", 0)),
            swap_total_kb=mi.get("SwapTotal", 0),
            swap_free_kb=mi.get("SwapFree", 0),
            oom_kills_since_boot=vm.get("oom_kill"),
            uptime_s=_uptime(files["/proc/uptime"]),
        )
        if files["/proc/meminfo"]:
            result.artifacts.append(Artifact("memory/meminfo", files["/proc/meminfo"] or b""))

        refs: dict[str, CgroupRef] = {}
        for raw in table.cgroup_raw.values():
            for ref in parse_proc_cgroup(raw):
                if (ref.version == 2 or ref.controller == "memory") and ref.path not in ("/", ""):
                    refs.setdefault(f"{ref.version}:{ref.path}", ref)
        cgs = await asyncio.gather(*(_cgroup_memory(s, r) for r in refs.values()))
        summary.cgroups = [c for c in cgs if c is not None]

        log_text = await _kernel_log(ctx, summary)
        if log_text:
            summary.oom_events = parse_oom_kills(log_text, uptime_s=summary.uptime_s,
                                                 this_boot=summary.oom_kills_since_boot)
            result.artifacts.append(Artifact("memory/kernel-log-oom.txt", "\n".join(
                e.line for e in summary.oom_events).encode()))
        result.parsed = summary.model_dump(mode="json")


def _uptime(raw: bytes | None) -> float | None:
    try:
        return float((raw or b"").split()[0])
    except (IndexError, ValueError):
        return None


async def _cgroup_memory(session: HostSession, ref: CgroupRef) -> CgroupMemory | None:
    files = ("memory.limit_in_bytes", "memory.usage_in_bytes", "memory.oom_control") \
        if ref.version == 1 else ("memory.max", "memory.current", "memory.events")
    levels = await read_levels(session, ref, files)
    if not levels:
        return None
    _, leaf = levels[0]
    if ref.version == 1:
        limit = parse_int(leaf.get("memory.limit_in_bytes"))
        usage = parse_int(leaf.get("memory.usage_in_bytes"))
        oom = parse_kv(leaf.get("memory.oom_control")).get("oom_kill")
    else:
        limit = parse_int(leaf.get("memory.max"))
        usage = parse_int(leaf.get("memory.current"))
        oom = parse_kv(leaf.get("memory.events")).get("oom_kill")
    if limit is not None and limit >= UNLIMITED:
        limit = None
    return CgroupMemory(path=ref.path, version=ref.version, usage_bytes=usage,
                        limit_bytes=limit, oom_kills=oom)


async def _kernel_log(ctx: CollectContext, summary: MemorySummary) -> str:
    """Files first (no fork on the host); `dmesg` only when no log file is
    readable, the host can still fork, and there were OOM kills to explain."""
    for path in KERNEL_LOGS:
        try:
            data = await ctx.session.read_tail(path, LOG_TAIL)
        except (PathGone, TransportError, NotImplementedError):
            continue
        summary.kernel_log = path
        return data.decode("utf-8", "replace")
    if not summary.oom_kills_since_boot:
        summary.kernel_log = "no OOM kill since boot (/proc/vmstat)"
        return ""
    try:
        r = await ctx.session.run(["dmesg"], timeout=3.0)
    except TransportError as e:
        summary.kernel_log = f"dmesg: {e}"
        return ""
    if r.exit_status != 0:
        summary.kernel_log = "dmesg not permitted (dmesg_restrict); counts from /proc/vmstat"
        return ""
    summary.kernel_log = "dmesg"
    return r.stdout.decode("utf-8", "replace")
