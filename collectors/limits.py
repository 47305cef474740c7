"""limits: thread and process ceilings, and who is eating them (000, 001, 002)."""

from __future__ import annotations

import asyncio

from collectors.analysis.hostmodels import CgroupPids, LimitsSummary, ProcessInfo, UserThreads
from collectors.analysis.procfs import (
    CgroupRef,
    own_pids,
    parse_int,
    parse_loadavg,
    parse_proc_cgroup,
)
from collectors.analysis.versions import versions_in
from collectors.base import Artifact, CollectContext, Collector, CollectorResult
from collectors.cgroups import CGROUP_PIDS_READS, pids_limit
from collectors.plugin import Reads
from collectors.procscan import PROCSCAN_READS, ProcessTable, shared_scan
from collectors.transport.base import TransportError


class LimitsCollector(Collector):
    name = "limits"
    description = "threads vs threads-max, pid_max, ulimit -u and cgroup pids.max"
    reads = PROCSCAN_READS | CGROUP_PIDS_READS | Reads(
        files=("/proc/sys/kernel/{threads-max,pid_max}", "/proc/loadavg", "/proc/self"),
        notes=("/proc/self: which processes are the capture's own (left out of top)",))
    timeout = 8.0

    async def collect(self, ctx: CollectContext, result: CollectorResult) -> None:
        s = ctx.session
        kernel, table, me = await asyncio.gather(
            s.read_files(
                ["/proc/sys/kernel/threads-max", "/proc/sys/kernel/pid_max", "/proc/loadavg"]
            ),
            shared_scan(ctx),
            _self_pid(ctx),
        )
        load = parse_loadavg(kernel["/proc/loadavg"])
        summary = LimitsSummary(
            threads_max=parse_int(kernel["/proc/sys/kernel/threads-max"]),
            pid_max=parse_int(kernel["/proc/sys/kernel/pid_max"]),
            kernel_tasks=load.tasks if load else None,
            load=[load.load1, load.load5, load.load15] if load else [],
            visible_threads=sum(p.threads for p in table.procs.values()),
            processes=len(table.procs),
            vanished=table.vanished,
            own_pids=own_pids(me, table.procs),
        )
        # cgroups of the processes we looked at closely, each read once
        cg_of: dict[int, str] = {}
        refs: dict[tuple[int, str], CgroupRef] = {}
        for pid, raw in table.cgroup_raw.items():
            for ref in parse_proc_cgroup(raw):
                if ref.version == 1 and ref.controller != "pids":
                    continue
                if ref.path in ("/", ""):
                    continue
                refs.setdefault((ref.version, ref.path), ref)
                cg_of[pid] = ref.path
        limits = await asyncio.gather(*(pids_limit(s, r) for r in refs.values()))
        by_path: dict[str, CgroupPids] = {}
        for ref, (path, cur, mx) in zip(refs.values(), limits, strict=True):
            if cur is None and mx is None:
                continue
            cg = by_path.setdefault(path, CgroupPids(path=path, version=ref.version,
                                                      pids_current=cur, pids_max=mx))
            cg.top_pids.extend(pid for pid, p in cg_of.items() if p == ref.path)
        summary.cgroups = sorted(by_path.values(), key=lambda c: c.path)

        top_n = ctx.thresholds.host.top_consumers
        own = set(summary.own_pids)
        for p in [p for p in table.by_threads() if p.pid not in own][:top_n]:
            summary.top.append(ProcessInfo(
                pid=p.pid, name=p.name, user=table.user(p.uid), uid=p.uid,
                threads=p.threads, cmdline=table.cmdlines.get(p.pid, ""),
                rss_kb=p.vm_rss_kb, nproc_limit=table.nproc.get(p.pid),
                cgroup=cg_of.get(p.pid),
            ))
        users: dict[int, UserThreads] = {}
        for p in table.by_threads():
            u = users.get(p.uid)
            if u is None:
                u = users[p.uid] = UserThreads(
                    user=table.user(p.uid), uid=p.uid, threads=0, processes=0,
                    nproc_limit=table.nproc.get(p.pid), top_pid=p.pid,
                )
            u.threads += p.threads
            u.processes += 1
        summary.users = sorted(users.values(), key=lambda u: -u.threads)
        names: dict[str, int] = {}
        for p in table.procs.values():
            names[p.name] = names.get(p.name, 0) + 1
        summary.process_names = dict(sorted(names.items()))
        for cmdline in table.cmdlines.values():
            for k, v in versions_in(cmdline).items():
                summary.versions.setdefault(k, v)

        result.parsed = summary.model_dump(mode="json")
        result.artifacts.append(Artifact(
            "limits/threads.tsv",
            _threads_tsv(table, cg_of).encode(),
            meta={"processes": summary.processes, "vanished": summary.vanished},
        ))
        if table.vanished:
            result.warnings.append(f"{table.vanished} processes exited while /proc was read")


async def _self_pid(ctx: CollectContext) -> int | None:
    """The pid of the process reading the host's /proc for us (over SFTP: our
    sftp-server)."""
    try:
        return int((await ctx.session.readlink("/proc/self")).rsplit("/", 1)[-1])
    except (TransportError, ValueError):
        return None


def _threads_tsv(table: ProcessTable, cg_of: dict[int, str]) -> str:
    lines = ["pid\tppid\tuser\tthreads\tstate\trss_kb\tname\tcgroup\tcmdline"]
    for p in table.by_threads():
        lines.append(
            f"{p.pid}\t{p.ppid}\t{table.user(p.uid)}\t{p.threads}\t{p.state}\t{p.vm_rss_kb}\t"
            f"{p.name}\t{cg_of.get(p.pid, '')}\t{table.cmdlines.get(p.pid, '')}"
        )
    return "\n".join(lines) + "\n"
