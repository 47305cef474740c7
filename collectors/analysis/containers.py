"""Containers from the Docker Engine API (podman's compatible API too): the JSON of
/containers/json, /containers/{id}/json and one-shot /containers/{id}/stats in, a typed
summary and the rules CONTAINER_NO_LIMIT, CONTAINER_NEAR_LIMIT, CONTAINER_RESTARTING and
OOM_KILL out. Pure: no I/O. Tolerant: a field that is missing or of the wrong type is
left unknown, never an exception (engines differ: podman's stats carry no pids limit,
docker's carry page cache counters)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from collectors.analysis.findings import Finding, Severity, TableBlock, TextBlock, fmt_int
from collectors.analysis.thresholds import ContainerThresholds

# cgroup "max" comes back as a huge number from some engines; no real limit is this big
_UNLIMITED = 1 << 62


class ContainerInfo(BaseModel):
    id: str  # short id, 12 hex digits
    name: str
    image: str = ""
    state: str = ""  # running, exited, restarting, paused, created, dead
    status: str = ""  # "Up 5 minutes", "Exited (137) 2 minutes ago"
    #: host pid of the container's main process: joins the limits view (threads by pid)
    pid: int | None = None
    exit_code: int | None = None
    restart_count: int = 0
    restarting: bool = False
    restart_policy: str = ""
    oom_killed: bool = False
    health: str = ""  # healthy, unhealthy, starting ("" = no health check)
    health_failing_streak: int = 0
    started_at: str = ""
    finished_at: str = ""
    #: bytes; None = no limit
    memory_limit: int | None = None
    #: tasks (processes + threads); None = no limit
    pids_limit: int | None = None
    #: bytes in use, page cache that can be reclaimed excluded when the engine reports it
    memory_usage: int | None = None
    #: tasks in the container's cgroup: every thread counts against pids_limit
    pids_current: int | None = None
    cpu_total_ns: int | None = None
    cpu_percent: float | None = None  # only when the engine sent a previous sample
    online_cpus: int | None = None
    inspected: bool = False
    has_stats: bool = False

    @property
    def running(self) -> bool:
        return self.state == "running"

    @property
    def missing_limits(self) -> list[str]:
        out = []
        if self.memory_limit is None:
            out.append("memory")
        if self.pids_limit is None:
            out.append("pids")
        return out


class ContainersSummary(BaseModel):
    socket: str = ""
    engine: str = ""  # "Docker 24.0.7", "Podman 4.3.1"
    api_version: str = ""
    total: int = 0  # in the listing (running and stopped)
    running: int = 0
    #: listed but not inspected (over the collector's bound)
    not_inspected: int = 0
    containers: list[ContainerInfo] = Field(default_factory=list)
    #: pids_current summed over running containers, to set against threads-max
    pids_total: int = 0


# -- JSON helpers: engines disagree on types, so every access is defensive -----------------

def _dict(v: Any) -> dict[str, Any]:
    return v if isinstance(v, dict) else {}


def _int(v: Any) -> int | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return None


def _limit(v: Any) -> int | None:
    """0, -1, null and cgroup's "max" all mean no limit."""
    n = _int(v)
    return n if n is not None and 0 < n < _UNLIMITED else None


def _str(v: Any) -> str:
    return v if isinstance(v, str) else ""


def _name(listing: dict[str, Any], inspect: dict[str, Any]) -> str:
    name = _str(inspect.get("Name")) or next(
        (n for n in listing.get("Names") or [] if isinstance(n, str)), "")
    return name.lstrip("/") or _str(listing.get("Id"))[:12]


def engine_of(ping_headers: dict[str, str]) -> tuple[str, str]:
    """(engine, api version) from the headers of GET /_ping (lower-case names):
    `Server: Docker/24.0.7 (linux)` or `Server: Libpod/4.3.1 (linux)`."""
    server = ping_headers.get("server", "")
    product, _, rest = server.partition("/")
    engine = {"Libpod": "Podman", "Docker": "Docker"}.get(product, product)
    if rest:
        engine = f"{engine} {rest.split(' ', 1)[0]}"
    return engine, ping_headers.get("api-version", "")


def container_info(listing: dict[str, Any], inspect: dict[str, Any] | None = None,
                   stats: dict[str, Any] | None = None) -> ContainerInfo:
    ins = _dict(inspect)
    st = _dict(ins.get("State"))
    hc = _dict(ins.get("HostConfig"))
    health = _dict(st.get("Health"))
    state = _str(st.get("Status")) or _str(listing.get("State"))
    c = ContainerInfo(
        id=(_str(ins.get("Id")) or _str(listing.get("Id")))[:12],
        name=_name(listing, ins),
        image=_str(_dict(ins.get("Config")).get("Image")) or _str(listing.get("Image")),
        state=state,
        status=_str(listing.get("Status")),
        pid=_int(st.get("Pid")) or None,
        exit_code=_int(st.get("ExitCode")) if state != "running" else None,
        restart_count=_int(ins.get("RestartCount")) or 0,
        restarting=bool(st.get("Restarting")) or state == "restarting",
        restart_policy=_str(_dict(hc.get("RestartPolicy")).get("Name")),
        oom_killed=st.get("OOMKilled") is True,
        health=_str(health.get("Status")),
        health_failing_streak=_int(health.get("FailingStreak")) or 0,
        started_at=_str(st.get("StartedAt")),
        finished_at=_str(st.get("FinishedAt")),
        memory_limit=_limit(hc.get("Memory")),
        pids_limit=_limit(hc.get("PidsLimit")),
        inspected=inspect is not None,
    )
    if stats:
        _apply_stats(c, stats)
    return c


def _apply_stats(c: ContainerInfo, stats: dict[str, Any]) -> None:
    c.has_stats = True
    pids = _dict(stats.get("pids_stats"))
    c.pids_current = _int(pids.get("current"))
    if c.pids_limit is None:
        # inspect says none (or was not read), yet the cgroup may have one: docker's
        # stats report the cgroup's pids.max; podman's report none
        c.pids_limit = _limit(pids.get("limit"))
    # stats' memory limit is the host's RAM when there is none: only inspect's is used
    mem = _dict(stats.get("memory_stats"))
    usage = _int(mem.get("usage"))
    if usage is not None:
        detail = _dict(mem.get("stats"))
        # what `docker stats` shows: reclaimable page cache is not memory pressure
        cache = _int(detail.get("total_inactive_file"))
        if cache is None:
            cache = _int(detail.get("inactive_file"))
        c.memory_usage = usage - cache if cache is not None and cache < usage else usage
    cpu = _dict(stats.get("cpu_stats"))
    pre = _dict(stats.get("precpu_stats"))
    total = _int(_dict(cpu.get("cpu_usage")).get("total_usage"))
    c.cpu_total_ns = total
    c.online_cpus = _int(cpu.get("online_cpus")) or len(
        _dict(cpu.get("cpu_usage")).get("percpu_usage") or []) or None
    pre_total = _int(_dict(pre.get("cpu_usage")).get("total_usage"))
    sys_now, sys_pre = _int(cpu.get("system_cpu_usage")), _int(pre.get("system_cpu_usage"))
    if total is not None and pre_total and sys_now and sys_pre and sys_now > sys_pre:
        c.cpu_percent = round(
            (total - pre_total) / (sys_now - sys_pre) * (c.online_cpus or 1) * 100, 1)


def summarize(listing: list[dict[str, Any]], inspects: dict[str, dict[str, Any]],
              stats: dict[str, dict[str, Any]], *, socket: str = "",
              ping_headers: dict[str, str] | None = None) -> ContainersSummary:
    """`inspects` and `stats` are keyed by the full container id from the listing."""
    s = ContainersSummary(socket=socket, total=len(listing))
    if ping_headers:
        s.engine, s.api_version = engine_of(ping_headers)
    for item in listing:
        if not isinstance(item, dict):
            continue
        cid = _str(item.get("Id"))
        if cid not in inspects:
            s.not_inspected += 1
        s.containers.append(container_info(item, inspects.get(cid), stats.get(cid)))
    s.running = sum(1 for c in s.containers if c.running)
    s.pids_total = sum(c.pids_current or 0 for c in s.containers if c.running)
    # running first, the most threads first: what the limits view joins on
    s.containers.sort(key=lambda c: (not c.running, -(c.pids_current or 0), c.name))
    return s


# -- rules ----------------------------------------------------------------------------------

def fmt_bytes(n: int | None) -> str:
    if n is None:
        return "no limit"
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024:
            return f"{int(size)} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


def _pct(used: int, limit: int) -> str:
    return f"{used / limit * 100:.0f}%"


def _table(cs: list[ContainerInfo]) -> TableBlock:
    return TableBlock(
        headers=["container", "image", "state", "pids", "pids limit", "memory",
                 "memory limit", "restarts"],
        rows=[[c.name, c.image[:60], c.state,
               fmt_int(c.pids_current) if c.pids_current is not None else "?",
               fmt_int(c.pids_limit) if c.pids_limit else "none",
               fmt_bytes(c.memory_usage) if c.memory_usage is not None else "?",
               fmt_bytes(c.memory_limit), str(c.restart_count)] for c in cs],
    )


def container_findings(s: ContainersSummary, t: ContainerThresholds) -> list[Finding]:
    out = no_limit_rule(s, t)
    for c in s.containers:
        out += near_limit_rule(c, t)
        out += oom_rule(c)
        out += restart_rule(c, t)
    return out


def no_limit_rule(s: ContainersSummary, t: ContainerThresholds) -> list[Finding]:
    """One finding for all running containers lacking a memory or pids limit: on a
    host with many of them, one line each would bury everything else."""
    bare = [c for c in s.containers if c.running and c.inspected and c.missing_limits]
    if not bare:
        return []
    bare.sort(key=lambda c: (-len(c.missing_limits), -(c.pids_current or 0), c.name))
    names = ", ".join(f"{c.name} ({', '.join(c.missing_limits)})" for c in bare[:5])
    more = f" and {len(bare) - 5} more" if len(bare) > 5 else ""
    no_mem = [c.name for c in bare if c.memory_limit is None]
    no_pids = [c.name for c in bare if c.pids_limit is None]
    return [Finding(
        rule="CONTAINER_NO_LIMIT", severity=Severity.WARNING,
        subject=bare[0].name if len(bare) == 1 else "containers",
        title=f"{len(bare)} of {s.running} running containers without a limit: {names}{more}",
        hint="a container without a pids limit can take the whole host's threads-max (and "
             "the docker daemon with it); without a memory limit it takes the host's RAM. "
             "Set --pids-limit and --memory (compose: pids_limit, mem_limit) — incident 001",
        evidence=[_table(bare[: t.max_rows])],
        data={"containers": [c.name for c in bare], "no_memory_limit": no_mem,
              "no_pids_limit": no_pids, "running": s.running},
    )]


def near_limit_rule(c: ContainerInfo, t: ContainerThresholds) -> list[Finding]:
    if not c.running:
        return []
    out: list[Finding] = []
    checks: list[tuple[str, int | None, int | None]] = [
        ("pids", c.pids_current, c.pids_limit),
        ("memory", c.memory_usage, c.memory_limit),
    ]
    for what, used, limit in checks:
        if used is None or not limit or used / limit < t.near_limit_fraction:
            continue
        ratio = used / limit
        if what == "pids":
            title = (f"{c.name}: {fmt_int(used)} of pids limit {fmt_int(limit)} threads "
                     f"({_pct(used, limit)})")
            hint = ("every thread and process counts against the pids limit: at the limit "
                    "the next thread fails (`unable to create native thread`, `fork: "
                    "Resource temporarily unavailable`); take a thread or goroutine dump "
                    "now and find the pool that grows")
        else:
            title = (f"{c.name}: memory {fmt_bytes(used)} of limit {fmt_bytes(limit)} "
                     f"({_pct(used, limit)})")
            hint = ("at the limit the kernel OOM-kills inside the container; a heap dump "
                    "or the process's RSS tells who grows")
        out.append(Finding(
            rule="CONTAINER_NEAR_LIMIT",
            severity=Severity.CRITICAL if ratio >= t.critical_fraction else Severity.WARNING,
            subject=c.name, title=title, hint=hint, evidence=[_table([c])],
            data={"container": c.name, "id": c.id, "resource": what, "used": used,
                  "limit": limit, "fraction": round(ratio, 4), "pid": c.pid},
        ))
    return out


def oom_rule(c: ContainerInfo) -> list[Finding]:
    if not c.oom_killed:
        return []
    parts = [f"memory limit {fmt_bytes(c.memory_limit)}"]
    if c.exit_code is not None:
        parts.append(f"exit code {c.exit_code}")
    if c.restart_count:
        parts.append(f"restarted {c.restart_count} times")
    return [Finding(
        rule="OOM_KILL", severity=Severity.CRITICAL, subject=f"container {c.name}",
        title=f"container {c.name} was OOM-killed ({', '.join(parts)})",
        hint="the kernel killed the container's process for memory: raise the limit or "
             "find what grows; with no limit it competed for the whole host's RAM",
        evidence=[_table([c])],
        data={"container": c.name, "id": c.id, "memory_limit": c.memory_limit,
              "exit_code": c.exit_code, "restart_count": c.restart_count,
              "finished_at": c.finished_at},
    )]


def restart_rule(c: ContainerInfo, t: ContainerThresholds) -> list[Finding]:
    if not (c.restarting or c.restart_count >= t.restart_count_min):
        return []
    now = "restarting now, " if c.restarting else ""
    exit_s = f", last exit code {c.exit_code}" if c.exit_code is not None else ""
    health = f", health {c.health}" if c.health and c.health != "healthy" else ""
    return [Finding(
        rule="CONTAINER_RESTARTING", severity=Severity.WARNING, subject=c.name,
        title=f"{c.name}: {now}{fmt_int(c.restart_count)} restarts{exit_s}{health}",
        hint="a restart loop destroys the evidence each time: read the container's log "
             "and its previous exit before the next restart",
        evidence=[_table([c]), TextBlock(text=f"restart policy: {c.restart_policy or 'none'}; "
                                              f"finished at {c.finished_at or '?'}")],
        data={"container": c.name, "id": c.id, "restart_count": c.restart_count,
              "restarting": c.restarting, "exit_code": c.exit_code, "health": c.health},
    )]
