"""OOM kills from kernel log text (dmesg, kern.log, journal)."""

from __future__ import annotations

import re

from collectors.analysis.hostmodels import OomKill

# "Out of memory: Killed process 811 (java) total-vm:..." and the memcg form
# "Memory cgroup out of memory: Killed process 811 (java) ..."; older kernels
# say "Kill process 811 (java) score ...".
_KILLED = re.compile(r"(?:Killed|Kill) process (\d+) \(([^)]*)\)")
_WHEN = re.compile(r"^\s*(\[\s*[\d.]+\]|\S+\s+\d+\s+[\d:]+|\d{4}-\d\d-\d\dT[\d:.+-]+)")


# the kernel's own stamp, seconds since boot; syslog puts it after "kernel:"
_UPTIME = re.compile(r"\[\s*(\d+\.\d+)\]")


def parse_oom_kills(text: str, limit: int = 50, *, uptime_s: float | None = None,
                    this_boot: int | None = None) -> list[OomKill]:
    """The kills in `text`, oldest first. With `this_boot` (/proc/vmstat's
    count) the older ones are marked as logged before the last reboot — a
    log file spans reboots, and its [uptime] stamps restart at each one; with
    `uptime_s` the kills of this boot get their age."""
    out: list[OomKill] = []
    for line in text.splitlines():
        if "process" not in line:
            continue
        m = _KILLED.search(line)
        if not m:
            continue
        w = _WHEN.match(line)
        out.append(OomKill(pid=int(m.group(1)), process=m.group(2),
                           when=w.group(1).strip() if w else "", line=line.strip()[:400]))
    if this_boot is not None:
        for k in out[:max(0, len(out) - this_boot)]:
            k.earlier_boot = True
    if uptime_s is None:
        return out[-limit:]
    # Newest first: stamps fall towards the boot. One later than the uptime,
    # or than a newer kill's, was logged before a reboot, and so was all before it.
    last, rebooted = uptime_s, False
    for k in reversed(out):
        stamp = _UPTIME.search(k.line)
        if rebooted or k.earlier_boot or stamp is None:
            k.earlier_boot = k.earlier_boot or rebooted
            continue
        t = float(stamp.group(1))
        if t > last + 1:
            rebooted = k.earlier_boot = True
            continue
        k.age_s = uptime_s - t
        last = t
    return out[-limit:]
