"""Host rules: THREAD_CEILING (with the memory-is-free fact when it applies:
MEMORY_FREE_THREADS_EXHAUSTED is merged into it), TIME_WAIT_EXHAUSTION,
OOM_KILL. Pure functions of the parsed summaries."""

from __future__ import annotations

from typing import Any

from collectors.analysis.findings import Block, Finding, Severity, TableBlock, TextBlock, fmt_int
from collectors.analysis.hostmodels import (
    LimitsSummary,
    MemorySummary,
    NetworkSummary,
    OomKill,
    ProcessInfo,
)
from collectors.analysis.thresholds import HostThresholds


def _severity(ratio: float, t: HostThresholds) -> Severity | None:
    if ratio >= t.ceiling_critical:
        return Severity.CRITICAL
    if ratio >= t.ceiling_warning:
        return Severity.WARNING
    return None


def _who(p: ProcessInfo) -> str:
    return f"{p.name} pid {p.pid} ({p.user}) {fmt_int(p.threads)} threads"


def _top_table(procs: list[ProcessInfo]) -> TableBlock:
    return TableBlock(
        headers=["pid", "user", "threads", "name", "cgroup", "command line"],
        rows=[[str(p.pid), p.user, fmt_int(p.threads), p.name, p.cgroup or "",
               p.cmdline[:120]] for p in procs],
    )


def _ceiling(t: HostThresholds, used: int, limit: int, subject: str, title: str, hint: str,
             top: list[ProcessInfo], data: dict[str, Any], evidence: list[Block]
             ) -> Finding | None:
    """THREAD_CEILING when `used` is near `limit` (None when not): one shape for the
    kernel's, a cgroup's and a user's ceiling."""
    sev = _severity(used / limit, t)
    if not sev:
        return None
    who = f" — top: {_who(top[0])}" if top else ""
    return Finding(
        rule="THREAD_CEILING", severity=sev, subject=subject, title=title + who, hint=hint,
        evidence=evidence,
        data={**data, "used": used, "limit": limit,
              "top_pid": data.get("top_pid", top[0].pid if top else None)})


def limits_findings(s: LimitsSummary, t: HostThresholds) -> list[Finding]:
    """One THREAD_CEILING per ceiling that is near: kernel threads-max, pid_max,
    a cgroup's pids.max, a user's `Max processes`."""
    found: list[Finding | None] = []
    used = s.system_threads
    for label, ceiling in (("threads-max", s.threads_max), ("pid_max", s.pid_max)):
        if ceiling:
            found.append(_ceiling(
                t, used, ceiling, label, f"{fmt_int(used)} threads of {label} "
                f"{fmt_int(ceiling)}",
                "fork and thread creation fail host-wide at this ceiling; find the "
                "process that grows (top consumers) before anyone restarts",
                s.top[:5], {"ceiling": label}, [_top_table(s.top[:5])]))

    by_pid = {p.pid: p for p in s.top}
    for cg in s.cgroups:
        if not cg.pids_max or cg.pids_current is None:
            continue
        members = sorted((by_pid[p] for p in cg.top_pids if p in by_pid),
                         key=lambda p: -p.threads)
        found.append(_ceiling(
            t, cg.pids_current, cg.pids_max, f"cgroup {cg.path}",
            f"cgroup {cg.path}: {fmt_int(cg.pids_current)} of pids.max "
            f"{fmt_int(cg.pids_max)}",
            "every process in this cgroup (container, service) fails to fork or "
            "start a thread at pids.max: `OutOfMemoryError: unable to create "
            "native thread` although memory is free",
            members, {"ceiling": "pids.max", "cgroup": cg.path},
            [_top_table(members[:5])] if members else []))

    for u in s.users:
        if not u.nproc_limit:
            continue
        top_u = by_pid.get(u.top_pid or -1)
        found.append(_ceiling(
            t, u.threads, u.nproc_limit, f"user {u.user}",
            f"user {u.user}: {fmt_int(u.threads)} threads of Max processes "
            f"(ulimit -u) {fmt_int(u.nproc_limit)}",
            "RLIMIT_NPROC counts every thread of every process of this user: one "
            "leaking JVM starves the user's other services",
            [top_u] if top_u else [], {"ceiling": "nproc", "user": u.user,
                                        "top_pid": u.top_pid}, []))
    return [f for f in found if f]


def ago(seconds: float) -> str:
    """How long ago, as people say it: 40 s ago, 12 min ago, 3 h ago, 2 d ago."""
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size * (2 if unit != "min" else 1):
            return f"{seconds / size:.0f} {unit} ago"
    return f"{seconds:.0f} s ago"


def _victims(events: list[OomKill]) -> str:
    return ", ".join(f"{e.process} pid {e.pid}" if e.pid else e.process for e in events[-5:])


def _when(e: OomKill) -> str:
    if e.age_s is not None:
        return f"{ago(e.age_s)} {e.when}".strip()
    return f"before reboot {e.when}".strip() if e.earlier_boot else e.when


def memory_findings(m: MemorySummary, t: HostThresholds | None = None) -> list[Finding]:
    t = t or HostThresholds()
    out: list[Finding] = []
    kills = [c for c in m.cgroups if c.oom_kills]
    now = [e for e in m.oom_events if not e.earlier_boot]
    before = [e for e in m.oom_events if e.earlier_boot]
    n = max(len(now), m.oom_kills_since_boot or 0, sum(c.oom_kills or 0 for c in kills))
    ev: list[TextBlock | TableBlock] = []
    if m.oom_events:
        ev.append(TableBlock(headers=["when", "pid", "process", "kernel log"],
                             rows=[[_when(e), str(e.pid or ""), e.process, e.line[:160]]
                                   for e in m.oom_events[-10:]]))
    if kills:
        ev.append(TableBlock(headers=["cgroup", "oom kills", "usage", "limit"],
                             rows=[[c.path, str(c.oom_kills), _bytes(c.usage_bytes),
                                    _bytes(c.limit_bytes)] for c in kills]))
    if not m.oom_events:
        ev.append(TextBlock(text=f"kernel log: {m.kernel_log or 'not readable'}"))
    hint = ("the kernel killed processes for memory: check the victims' limits and "
            "whether a container or cgroup has no memory limit")
    if n > 0:
        title = f"{fmt_int(n)} OOM kill{'s' if n != 1 else ''} since boot"
        ages = [e.age_s for e in now if e.age_s is not None]
        last_age = min(ages) if ages else None
        if last_age is not None:
            title += f" — last {ago(last_age)}"
        if now:
            title += f"{':' if last_age is not None else ' — last:'} {_victims(now)}"
        # a named kill without an [uptime] stamp may be recent: critical; kills
        # known only by their count (log unreadable) are a warning
        recent = last_age is None or last_age <= t.oom_recent_minutes * 60
        out.append(Finding(
            rule="OOM_KILL", severity=Severity.CRITICAL if recent and now else
            Severity.WARNING, subject="kernel", title=title, hint=hint,
            evidence=list(ev), data={"count": n, "victims": [e.process for e in now],
                                     "last_age_s": last_age},
        ))
    elif before:
        out.append(Finding(
            rule="OOM_KILL", severity=Severity.INFO, subject="kernel",
            title=f"{fmt_int(len(before))} OOM kill{'s' if len(before) != 1 else ''} "
                  f"logged before the last reboot — last: {_victims(before)}",
            hint="none since boot; if the reboot was to recover from them, the cause "
                 "may still be there: " + hint.split(": ", 1)[1],
            evidence=list(ev), data={"count": 0, "victims": [e.process for e in before],
                                     "before_reboot": len(before)},
        ))
    return out


def network_findings(n: NetworkSummary, t: HostThresholds) -> list[Finding]:
    size = n.port_range_size
    # Ephemeral ports run out per remote endpoint (the 4-tuple must be unique),
    # so the busiest remote is what hits "Address already in use" first: judged against
    # the range (a small range is where it runs out first), with a floor only for noise.
    top = n.top_time_wait_remotes[0] if n.top_time_wait_remotes else None
    worst = top.count if top else 0
    if not size or worst < t.time_wait_min:
        return []
    ratio = worst / size
    if ratio >= t.time_wait_critical:
        sev = Severity.CRITICAL
    elif ratio >= t.time_wait_warning:
        sev = Severity.WARNING
    else:
        return []
    lo, hi = n.port_range or (0, 0)
    title = (f"TIME_WAIT {fmt_int(n.time_wait)} vs {fmt_int(size)} local ports "
             f"(ip_local_port_range {lo}–{hi})")
    if top:
        title += f" — top remote: {top.endpoint} {fmt_int(top.count)}"
    return [Finding(
        rule="TIME_WAIT_EXHAUSTION", severity=sev, subject="tcp", title=title,
        hint="connections are opened and closed per request: reuse them (keep-alive, a "
             "pooled HTTP client with enough connections per route); tcp_tw_reuse=1 "
             "helps outbound connections",
        evidence=[TableBlock(headers=["remote endpoint", "TIME_WAIT"],
                             rows=[[e.endpoint, fmt_int(e.count)]
                                   for e in n.top_time_wait_remotes[:10]]),
                  TextBlock(text=f"tcp_tw_reuse={n.tw_reuse}; states: " + ", ".join(
                      f"{k} {fmt_int(v)}" for k, v in sorted(n.states.items(),
                                                             key=lambda kv: -kv[1])))],
        data={"time_wait": n.time_wait, "port_range": size,
              "top_remote": top.endpoint if top else None,
              "top_remote_count": worst},
    )]


def cross_findings(
    limits: LimitsSummary | None, memory: MemorySummary | None, t: HostThresholds
) -> list[Finding]:
    """Rules that need more than one collector. Memory free while a thread
    ceiling is hit is not a second finding (it was MEMORY_FREE_THREADS_EXHAUSTED,
    now merged): it is a fact about that THREAD_CEILING, returned as the
    amended finding (same rule and subject) that replaces the limits one."""
    if limits is None or memory is None or not memory.mem_total_kb:
        return []
    ceilings = [f for f in limits_findings(limits, t) if f.severity is Severity.CRITICAL]
    free = memory.mem_available_kb / memory.mem_total_kb
    if not ceilings or free < t.memory_free_fraction:
        return []
    worst = ceilings[0]
    fact = (f"memory is free: {_bytes(memory.mem_available_kb * 1024)} of "
            f"{_bytes(memory.mem_total_kb * 1024)} available — the thread ceiling is not")
    return [worst.model_copy(update=dict(
        title=f"{worst.title} — {fact}",
        hint=(f"{worst.hint}. " if worst.hint else "")
        + "`Cannot allocate memory` / `unable to create native thread` here means threads, "
          "not RAM: adding memory or restarting the victim will not help; stop the thread "
          "leak",
        evidence=[*worst.evidence, TextBlock(text=fact)],
        data={**worst.data, "mem_available_kb": memory.mem_available_kb,
              "mem_total_kb": memory.mem_total_kb,
              "merged": "MEMORY_FREE_THREADS_EXHAUSTED"},
    ))]


def merge_amended(findings: list[Finding], amended: list[Finding]) -> list[Finding]:
    """`findings` with each one that an amended finding restates (same rule
    and subject) replaced by it; amended findings with no match are added."""
    key = {(f.rule, f.subject): f for f in amended}
    out = [key.pop((f.rule, f.subject), f) for f in findings]
    return out + list(key.values())


def _bytes(n: int | None) -> str:
    if n is None:
        return "no limit"
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.1f} {unit}" if unit != "B" else f"{int(size)} B"
        size /= 1024
    return f"{n} B"
