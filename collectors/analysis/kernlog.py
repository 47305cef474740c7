"""OOM kills from kernel log text (dmesg, kern.log, journal)."""

from __future__ import annotations

import re

from collectors.analysis.hostmodels import OomKill

# "Out of memory: Killed process 811 (java) total-vm:..." and the memcg form
# "Memory cgroup out of memory: Killed process 811 (java) ..."; older kernels
# say "Kill process 811 (java) score ...".
_KILLED = re.compile(r"(?:Killed|Kill) process (\d+) \(([^)]*)\)")
_WHEN = re.compile(r"^\s*(\[\s*[\d.]+\]|\S+\s+\d+\s+[\d:]+|\d{4}-\d\d-\d\dT[\d:.+-]+)")


def parse_oom_kills(text: str, limit: int = 50) -> list[OomKill]:
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
    return out[-limit:]
