"""One pass over /proc, shared by every collector of a capture.

Status files of all processes first (one pipelined batch of SFTP reads), then
command lines, limits and cgroups only for the processes that matter: the top
consumers and one process per user. A pid that exits mid-scan is counted as
vanished, never an error (a plain `grep Threads /proc/[0-9]*/status` exits 2
on busy hosts for exactly this reason).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from collectors.analysis.procfs import (
    ProcStatus,
    parse_cmdline,
    parse_limit,
    parse_passwd,
    parse_status,
)
from collectors.base import CollectContext
from collectors.plugin import GuardedSession, Reads
from collectors.transport.base import HostSession

#: what the shared scan reads: every collector that uses it declares this
PROCSCAN_READS = Reads(
    dirs=("/proc",),
    files=("/proc/<pid>/{status,cmdline,limits,cgroup}", "/etc/passwd"),
)


@dataclass
class ProcessTable:
    procs: dict[int, ProcStatus] = field(default_factory=dict)
    vanished: int = 0
    users: dict[int, str] = field(default_factory=dict)
    cmdlines: dict[int, str] = field(default_factory=dict)
    nproc: dict[int, int | None] = field(default_factory=dict)
    cgroup_raw: dict[int, bytes] = field(default_factory=dict)
    raw_status: dict[int, bytes] = field(default_factory=dict)

    def user(self, uid: int) -> str:
        return self.users.get(uid, str(uid))

    def by_threads(self) -> list[ProcStatus]:
        return sorted(self.procs.values(), key=lambda p: (-p.threads, p.pid))


async def scan_processes(session: HostSession, detail: int = 15) -> ProcessTable:
    table = ProcessTable()
    names = await session.listdir("/proc")
    pids = sorted(int(n) for n in names if n.isdigit())
    paths = [f"/proc/{pid}/status" for pid in pids]
    raw = await session.read_files([*paths, "/etc/passwd"], limit=64 * 1024)
    table.users = parse_passwd(raw.pop("/etc/passwd", None))
    for pid in pids:
        data = raw.get(f"/proc/{pid}/status")
        st = parse_status(pid, data) if data else None
        if st is None:
            table.vanished += 1
            continue
        table.procs[pid] = st
        table.raw_status[pid] = data or b""

    # detail for the top consumers and the first process of every user, whose
    # `Max processes` is the ceiling that user's threads count against
    chosen: dict[int, None] = {p.pid: None for p in table.by_threads()[:detail]}
    seen_uids: set[int] = set()
    for p in table.by_threads():
        if p.uid not in seen_uids:
            seen_uids.add(p.uid)
            chosen.setdefault(p.pid, None)
    wanted = [
        f"/proc/{pid}/{leaf}" for pid in chosen for leaf in ("cmdline", "limits", "cgroup")
    ]
    more = await session.read_files(wanted, limit=64 * 1024)
    for pid in chosen:
        cl = more.get(f"/proc/{pid}/cmdline")
        table.cmdlines[pid] = parse_cmdline(cl) or f"[{table.procs[pid].name}]"
        table.nproc[pid] = parse_limit(more.get(f"/proc/{pid}/limits"))
        cg = more.get(f"/proc/{pid}/cgroup")
        if cg is not None:
            table.cgroup_raw[pid] = cg
    return table


async def shared_scan(ctx: CollectContext) -> ProcessTable:
    """The scan of this capture, done once however many collectors ask; whoever
    asks must declare its reads, whichever collector's session happens to run it."""
    if isinstance(ctx.session, GuardedSession):
        ctx.session.check("dirs", "/proc")
        for leaf in ("status", "cmdline", "limits", "cgroup"):
            ctx.session.check("files", f"/proc/1/{leaf}")
    table: ProcessTable = await ctx.memo("procscan", lambda: scan_processes(ctx.session))
    return table
