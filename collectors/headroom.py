"""How far a process is from every ceiling that would stop it starting one
more thread: its cgroup's pids.max, threads-max, pid_max and its user's
`Max processes`. Measured right before anything that makes a JVM start its
Attach Listener, because at a ceiling that kills the JVM (DESIGN.md)."""

from __future__ import annotations

from dataclasses import dataclass, field

from collectors.analysis.procfs import parse_int, parse_limit, parse_loadavg, parse_proc_cgroup
from collectors.cgroups import CGROUP_PIDS_READS, pids_limit
from collectors.plugin import Reads
from collectors.transport.base import HostSession

HEADROOM_READS = CGROUP_PIDS_READS | Reads(files=(
    "/proc/sys/kernel/{threads-max,pid_max}", "/proc/loadavg", "/proc/<pid>/{cgroup,limits}"))


@dataclass
class Headroom:
    #: free slots on the tightest ceiling, and which one it is
    free: int | None = None
    tightest: str = ""
    ceilings: list[str] = field(default_factory=list)

    def clear(self) -> bool:
        """Enough room for one more thread, with a margin for everyone else."""
        return all(c.endswith("ok") for c in self.ceilings) and self.free is not None


def _check(h: Headroom, name: str, used: int | None, limit: int | None,
           margin_abs: int, margin_frac: float) -> None:
    if used is None or not limit:
        return
    free = limit - used
    ok = free >= max(margin_abs, int(limit * margin_frac))
    h.ceilings.append(f"{name} {used}/{limit} {'ok' if ok else 'TIGHT'}")
    if h.free is None or free < h.free:
        h.free, h.tightest = free, name


async def measure(session: HostSession, pid: int, uid: int, user_threads: int,
                  margin_abs: int = 20, margin_frac: float = 0.02) -> Headroom:
    files = await session.read_files([
        "/proc/sys/kernel/threads-max", "/proc/sys/kernel/pid_max", "/proc/loadavg",
        f"/proc/{pid}/cgroup", f"/proc/{pid}/limits",
    ])
    h = Headroom()
    load = parse_loadavg(files["/proc/loadavg"])
    tasks = load.tasks if load else None
    _check(h, "threads-max", tasks, parse_int(files["/proc/sys/kernel/threads-max"]),
           margin_abs, margin_frac)
    _check(h, "pid_max", tasks, parse_int(files["/proc/sys/kernel/pid_max"]),
           margin_abs, margin_frac)
    for ref in parse_proc_cgroup(files[f"/proc/{pid}/cgroup"]):
        if ref.version == 1 and ref.controller != "pids":
            continue
        path, cur, mx = await pids_limit(session, ref)
        _check(h, f"cgroup {path} pids.max", cur, mx, margin_abs, margin_frac)
    if uid != 0:  # RLIMIT_NPROC does not bind root
        _check(h, "Max processes (ulimit -u)", user_threads,
               parse_limit(files[f"/proc/{pid}/limits"]), margin_abs, margin_frac)
    if h.free is None:  # nothing readable: treat as no headroom known
        h.ceilings.append("no ceiling readable TIGHT")
    return h
