"""Parsers for the /proc and cgroup files the host collectors read. Pure and
tolerant: a malformed line is skipped, never an exception."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


def _text(raw: bytes | str) -> str:
    return raw if isinstance(raw, str) else raw.decode("utf-8", "replace")


def parse_int(raw: bytes | str | None, default: int | None = None) -> int | None:
    """An integer file such as threads-max; 'max' (cgroup v2) -> None."""
    if raw is None:
        return default
    s = _text(raw).strip()
    if s == "max":
        return None
    try:
        return int(s.split()[0])
    except (ValueError, IndexError):
        return default


@dataclass(slots=True)
class ProcStatus:
    pid: int
    name: str
    ppid: int
    uid: int
    threads: int
    state: str
    vm_rss_kb: int


def _field(text: str, key: str) -> str | None:
    """The value of `key:` in a /proc status text; a find, not a parse of all
    ~55 lines (thousands of processes per capture)."""
    i = text.find(key + ":")
    while i > 0 and text[i - 1] != "\n":
        i = text.find(key + ":", i + 1)
    if i < 0:
        return None
    j = text.find("\n", i)
    return text[i + len(key) + 1:j if j >= 0 else None].strip()


def parse_status(pid: int, raw: bytes | str) -> ProcStatus | None:
    text = _text(raw)
    try:
        return ProcStatus(
            pid=pid,
            name=_field(text, "Name") or "?",
            ppid=int(_field(text, "PPid") or 0),
            uid=int((_field(text, "Uid") or "0").split()[0]),
            threads=int(_field(text, "Threads") or 1),
            state=(_field(text, "State") or "?")[:1],
            vm_rss_kb=int((_field(text, "VmRSS") or "0 kB").split()[0]),
        )
    except (ValueError, IndexError):
        return None


SSHD_NAMES = ("sshd", "sshd-session")


def own_pids(self_pid: int | None, procs: Mapping[int, ProcStatus]) -> list[int]:
    """The capture's own footprint on the host: the process that read /proc/self
    (over SSH our sftp-server), the sshd session processes above it, and their
    other children (a shell kept for builtins). The sshd listener, the one sshd
    whose parent is not an sshd, is the host's, not ours. Run locally (no sshd
    above the reader) there is none: hostsnap's own process may be the one
    to look at (the bot capturing its own machine)."""
    p = procs.get(self_pid) if self_pid is not None else None
    if p is None or p.name not in ("sftp-server", *SSHD_NAMES) or \
            (parent := procs.get(p.ppid)) is None or parent.name not in SSHD_NAMES:
        return []
    own = [p.pid]
    for _ in range(8):  # sftp-server <- sshd user@notty <- sshd [priv] <- listener
        parent = procs.get(p.ppid) if p else None
        if parent is None or parent.name not in SSHD_NAMES:
            break
        grand = procs.get(parent.ppid)
        if grand is None or grand.name not in SSHD_NAMES:
            break  # `parent` is the listener
        own.append(parent.pid)
        p = parent
    sessions = set(own[1:])
    own += [q.pid for q in procs.values() if q.ppid in sessions and q.pid not in own]
    return own


def parse_cmdline(raw: bytes | None, limit: int = 300) -> str:
    if not raw:
        return ""
    return raw.rstrip(b"\0").replace(b"\0", b" ").decode("utf-8", "replace")[:limit]


def parse_limit(raw: bytes | str | None, name: str = "Max processes") -> int | None:
    """Soft limit from /proc/<pid>/limits; None for unlimited or unknown."""
    if raw is None:
        return None
    for line in _text(raw).splitlines():
        if line.startswith(name):
            parts = line[len(name):].split()
            if parts and parts[0].isdigit():
                return int(parts[0])
            return None
    return None


@dataclass(slots=True)
class CgroupRef:
    version: int  # 1 or 2
    controller: str  # "pids", "memory" (v1) or "" (v2)
    path: str


def parse_proc_cgroup(raw: bytes | str | None) -> list[CgroupRef]:
    """/proc/<pid>/cgroup lines: `hierarchy-id:controllers:path`."""
    refs: list[CgroupRef] = []
    if raw is None:
        return refs
    for line in _text(raw).splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        hid, controllers, path = parts
        if hid == "0" and controllers == "":
            refs.append(CgroupRef(2, "", path))
        else:
            for c in controllers.split(","):
                if c in ("pids", "memory"):
                    refs.append(CgroupRef(1, c, path))
    return refs


def parse_kv(raw: bytes | str | None) -> dict[str, int]:
    """`key value` files: /proc/vmstat, memory.stat, memory.events, meminfo (kB)."""
    out: dict[str, int] = {}
    if raw is None:
        return out
    for line in _text(raw).splitlines():
        parts = line.replace(":", " ").split()
        if len(parts) >= 2:
            try:
                out[parts[0]] = int(parts[1])
            except ValueError:
                continue
    return out


@dataclass(slots=True)
class LoadAvg:
    load1: float
    load5: float
    load15: float
    running: int
    #: kernel-wide scheduling entities: what threads-max counts, even from
    #: inside a pid namespace that shows only some processes
    tasks: int


def parse_loadavg(raw: bytes | str | None) -> LoadAvg | None:
    if raw is None:
        return None
    try:
        a, b, c, rt, *_ = _text(raw).split()
        r, t = rt.split("/")
        return LoadAvg(float(a), float(b), float(c), int(r), int(t))
    except ValueError:
        return None


def parse_passwd(raw: bytes | str | None) -> dict[int, str]:
    users: dict[int, str] = {}
    if raw is None:
        return users
    for line in _text(raw).splitlines():
        parts = line.split(":")
        if len(parts) >= 3 and parts[2].isdigit():
            users.setdefault(int(parts[2]), parts[0])
    return users
