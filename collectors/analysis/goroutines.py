"""Parser for Go goroutine dumps: pprof `?debug=2` (one record per goroutine, also what
a panic or SIGQUIT prints) and `?debug=1` (records aggregated by stack, `N @ 0x...`).

debug=2 headers: `goroutine 117 [semacquire, 6274 minutes, locked to thread]:`; the wait
reasons of Go 1.19 to 1.24 are kept verbatim (`semacquire`, `sync.Mutex.Lock`,
`chan receive (nil chan)`, `select (no cases)`, ...). The grouping key of a stack is its
tuple of file lines (`\\t/src/x.go:12 +0x1d`): those carry no per-goroutine argument
values, so goroutines in the same place share one GoStack without any normalization
pass; function names are taken from the first goroutine seen in that stack.

Pure and total: any text gives a GoroutineDump, with warnings for what was odd.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

# Wait reasons (Go 1.20+) and the Go <= 1.19 spelling that a mutex wait shows.
MUTEX_STATES = frozenset({"semacquire", "sync.Mutex.Lock", "sync.RWMutex.Lock",
                          "sync.RWMutex.RLock"})
# Frames whose receiver is the mutex: `sync.(*Mutex).lockSlow(0xc000090ed0)`.
_LOCK_FRAMES = ("sync.(*Mutex).lockSlow(", "sync.(*Mutex).Lock(", "sync.(*RWMutex).Lock(",
                "sync.(*RWMutex).RLock(")
_SEMA_FRAMES = ("sync.runtime_SemacquireMutex(", "sync.runtime_SemacquireRWMutex(",
                "sync.runtime_SemacquireRWMutexR(")
_ELIDED = "...additional frames elided..."


@dataclass(slots=True, eq=False)
class GoStack:
    files: tuple[str, ...]  # "/usr/lib/go/src/sync/mutex.go:171 +0x165" (key)
    funcs: tuple[str, ...]  # "sync.(*Mutex).lockSlow", arguments removed
    created_by: str = ""  # "main.mutexMode"
    _digest: str = ""

    @property
    def digest(self) -> str:
        if not self._digest:
            h = hashlib.blake2b("\n".join(self.funcs + self.files).encode(), digest_size=8)
            self._digest = h.hexdigest()
        return self._digest

    def has(self, marker: str) -> bool:
        return any(marker in f for f in self.funcs)


@dataclass(slots=True, eq=False)
class Goroutine:
    id: int
    state: str  # wait reason: "chan receive", "semacquire", "running", ...
    minutes: int  # ", N minutes" (only shown after a GC, once blocked for >= 1 min)
    locked: bool  # ", locked to thread"
    stack: GoStack
    wait_addr: str = ""  # the mutex (or its semaphore) a lock waiter blocks on


@dataclass(slots=True, eq=False)
class GoGroup:
    """Goroutines in one state with one stack (debug=1: one `N @` record)."""

    state: str
    stack: GoStack
    count: int
    max_minutes: int = 0
    ids: list[int] = field(default_factory=list)  # first few goroutine ids
    labels: str = ""  # debug=1 `# labels: {...}`


@dataclass(slots=True, eq=False)
class GoroutineDump:
    format: str = "debug=2"  # or "debug=1"
    goroutines: list[Goroutine] = field(default_factory=list)  # debug=2
    records: list[GoGroup] = field(default_factory=list)  # debug=1
    declared_total: int | None = None  # debug=1 "goroutine profile: total N"
    warnings: list[str] = field(default_factory=list)
    truncated: bool = False

    @property
    def kind(self) -> str:
        return "go"

    @property
    def total(self) -> int:
        if self.format == "debug=1":
            return sum(r.count for r in self.records)
        return len(self.goroutines)

    def groups(self) -> list[GoGroup]:
        """Goroutines grouped by (state, stack), largest first."""
        if self.format == "debug=1":
            return sorted(self.records, key=lambda g: -g.count)
        by: dict[tuple[str, int], GoGroup] = {}
        for g in self.goroutines:
            key = (g.state, id(g.stack))
            grp = by.get(key)
            if grp is None:
                grp = by[key] = GoGroup(g.state, g.stack, 0)
            grp.count += 1
            if g.minutes > grp.max_minutes:
                grp.max_minutes = g.minutes
            if len(grp.ids) < 10:
                grp.ids.append(g.id)
        return sorted(by.values(), key=lambda g: -g.count)

    def summary(self, top: int = 20, max_pools: int = 200) -> dict[str, Any]:
        """JSON-able counts. "pools" are goroutines per `created by` function, the Go
        counterpart of a thread pool."""
        groups = self.groups()
        states: Counter[str] = Counter()
        creators: Counter[str] = Counter()
        for g in groups:
            states[g.state or "(unknown)"] += g.count
            creators[g.stack.created_by or "(root)"] += g.count
        pools = dict(creators.most_common(max_pools))
        return {
            "kind": "go",
            "format": self.format,
            "goroutines": self.total,
            "threads": self.total,
            "states": dict(states.most_common()),
            "pools": pools,
            "groups": [{
                "key": group_key(g),
                "count": g.count,
                "state": g.state,
                "max_minutes": g.max_minutes,
                "frames": list(g.stack.funcs[:12]),
                "created_by": g.stack.created_by,
            } for g in groups[:top]],
            "truncated": self.truncated,
            "warnings": list(self.warnings),
        }


def group_key(g: GoGroup) -> str:
    return f"{g.state}/{g.stack.digest}" if g.state else g.stack.digest


def _strip_args(line: str) -> str:
    """`main.(*hub).publish(0x0?, {0x6e375d, 0x5})` -> `main.(*hub).publish`."""
    if line.endswith(")"):
        depth = 0
        for i in range(len(line) - 1, -1, -1):
            c = line[i]
            if c == ")":
                depth += 1
            elif c == "(":
                depth -= 1
                if depth == 0:
                    return line[:i]
    return line


def _first_arg(args: str) -> str:
    """First argument of a traceback call: `0xc000090ed0)` -> `0xc000090ed0`."""
    arg = args.split(",", 1)[0].rstrip(")?")
    return arg if arg.startswith("0x") else ""


def _wait_addr(funcs: list[str]) -> str:
    for f in funcs:
        if f.startswith(_LOCK_FRAMES):
            addr = _first_arg(f[f.find("(", f.find(")") + 1) + 1 :])
            if addr:
                return addr
    for f in funcs:
        if f.startswith(_SEMA_FRAMES):
            addr = _first_arg(f[f.find("(") + 1 :])
            if addr:
                return "sema " + addr
    return ""


def _header(line: str) -> tuple[int, str, int, bool] | None:
    """`goroutine 117 [semacquire, 6274 minutes, locked to thread]:`"""
    open_ = line.find(" [")
    close = line.rfind("]")
    if open_ < 0 or close < open_:
        return None
    num = line[10:open_].split(" ", 1)[0]  # Go 1.23 tracebacks may add "gp=... m=..."
    if not num.isdigit():
        return None
    inner = line[open_ + 2 : close]
    minutes, locked = 0, False
    if ", " in inner:
        parts = inner.split(", ")
        state = parts[0]
        for p in parts[1:]:
            if p.endswith(" minutes"):
                m = p[:-8]
                minutes = int(m) if m.isdigit() else 0
            elif p == "locked to thread":
                locked = True
    else:
        state = inner
    return int(num), state, minutes, locked


class _Stacks:
    """Deduplicates stacks: one GoStack per distinct tuple of file lines."""

    __slots__ = ("by_files",)

    def __init__(self) -> None:
        self.by_files: dict[tuple[str, ...], GoStack] = {}

    def get(self, files: tuple[str, ...], funcs: list[str]) -> GoStack:
        st = self.by_files.get(files)
        if st is None:
            created = ""
            names = []
            for f in funcs:
                if f.startswith("created by "):
                    created = f[11:].split(" in goroutine ", 1)[0]
                elif f != _ELIDED:
                    names.append(_strip_args(f))
            st = self.by_files[files] = GoStack(
                tuple(x.strip() for x in files), tuple(names), created)
        return st


def parse_goroutines(text: str) -> GoroutineDump:
    """Parse a goroutine dump, debug=1 or debug=2 (detected from the text)."""
    head = text.lstrip()[:200]
    if head.startswith("goroutine profile: total") or (
        "\n#\t0x" in text[:20000] and "goroutine " not in head):
        return parse_debug1(text)
    return parse_debug2(text)


def parse_debug2(text: str) -> GoroutineDump:
    dump = GoroutineDump("debug=2")
    stacks = _Stacks()
    out = dump.goroutines
    bad = 0
    for block in text.split("\n\n"):
        lines = block.strip("\n").split("\n")
        if "\ngoroutine " in block or not lines[0].startswith("goroutine "):
            # Lost blank lines (or junk before the record): split at each header.
            starts = [i for i, ln in enumerate(lines) if ln.startswith("goroutine ")]
            if not starts:
                bad += bool(block.strip())
                continue
            bad += bool(starts[0])
            for a, z in zip(starts, [*starts[1:], len(lines)], strict=True):
                if not _goroutine(lines[a:z], stacks, out):
                    bad += 1
            continue
        if not _goroutine(lines, stacks, out):
            bad += 1
    if bad:
        dump.warnings.append(f"{bad} malformed goroutine record(s) skipped or partial")
    if out and not text.rstrip(" ").endswith("\n"):
        dump.truncated = True
        dump.warnings.append("truncated: the dump does not end with a newline")
    elif out and not text.rstrip().rsplit("\n", 1)[-1].startswith(("\t", " ")):
        # every complete record ends with a frame's file line (tab-indented)
        dump.truncated = True
        dump.warnings.append("truncated: the last goroutine's stack ends mid-frame")
    if not out:
        dump.warnings.append("no goroutines found: not a goroutine dump?")
    return dump


def _goroutine(lines: list[str], stacks: _Stacks, out: list[Goroutine]) -> bool:
    """One debug=2 record; False when it was malformed (what could be read is kept)."""
    h = _header(lines[0])
    if h is None:
        return False
    gid, state, minutes, locked = h
    ok = True
    if len(lines) % 2 == 1 and _ELIDED not in lines and all(
            ln[:1] == "\t" for ln in lines[2::2]):
        funcs, files = lines[1::2], lines[2::2]  # the regular shape: func, file, func, ...
    else:
        funcs, files = [], []
        for ln in lines[1:]:
            (files if ln[:1] == "\t" else funcs).append(ln)
        ok = len(funcs) == len(files) or (_ELIDED in funcs and len(funcs) == len(files) + 1)
    stack = stacks.get(tuple(files), funcs)
    addr = _wait_addr(funcs) if state in MUTEX_STATES else ""
    out.append(Goroutine(gid, state, minutes, locked, stack, addr))
    return ok


# debug=1 hides runtime frames, so the wait reason is inferred from the sync frames only.
_INFER = {
    "sync.(*Mutex).Lock": "sync.Mutex.Lock",
    "sync.(*Mutex).lockSlow": "sync.Mutex.Lock",
    "sync.(*RWMutex).RLock": "sync.RWMutex.RLock",
    "sync.(*RWMutex).Lock": "sync.RWMutex.Lock",
    "sync.(*WaitGroup).Wait": "sync.WaitGroup.Wait",
    "sync.(*Cond).Wait": "sync.Cond.Wait",
    "time.Sleep": "sleep",
    "internal/poll.runtime_pollWait": "IO wait",
}


def _infer_state(funcs: tuple[str, ...]) -> str:
    for fn in funcs[:4]:
        state = _INFER.get(fn)
        if state:
            return state
    return ""


def parse_debug1(text: str) -> GoroutineDump:
    dump = GoroutineDump("debug=1")
    bad = 0
    for block in text.split("\n\n"):
        lines = block.strip("\n").split("\n")
        first = lines[0]
        if first.startswith("goroutine profile: total "):
            total = first[25:].strip()
            dump.declared_total = int(total) if total.isdigit() else None
            lines = lines[1:]
            if not lines:
                continue
            first = lines[0]
        count_s, sep, pcs = first.partition(" @ ")
        if not sep or not count_s.strip().isdigit():
            bad += bool(block.strip())
            continue
        funcs: list[str] = []
        files: list[str] = []
        labels = ""
        for ln in lines[1:]:
            if ln.startswith("#\t"):
                parts = ln[2:].split("\t")
                parts = [p for p in parts if p]
                if len(parts) >= 2:
                    name = parts[1]
                    plus = name.rfind("+0x")
                    funcs.append(name[:plus] if plus > 0 else name)
                    files.append(parts[2].strip() if len(parts) > 2 else "")
            elif ln.startswith("# labels: "):
                labels = ln[10:]
        stack = GoStack(tuple(files) or (pcs.strip(),), tuple(funcs))
        dump.records.append(GoGroup(_infer_state(stack.funcs), stack, int(count_s), labels=labels))
    if bad:
        dump.warnings.append(f"{bad} malformed record(s) skipped")
    if dump.declared_total is not None and dump.declared_total != dump.total:
        dump.truncated = dump.total < dump.declared_total
        dump.warnings.append(
            f"header says {dump.declared_total} goroutines, records add up to {dump.total}")
    if not dump.records:
        dump.warnings.append("no goroutine records found: not a goroutine dump?")
    return dump
