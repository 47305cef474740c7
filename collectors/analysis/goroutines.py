"""Parser for Go goroutine dumps: pprof `?debug=2` (one record per goroutine, also what
a panic or SIGQUIT prints) and `?debug=1` (records aggregated by stack, `N @ 0x...`).

debug=2 headers: `goroutine 117 [semacquire, 6274 minutes, locked to thread]:`; the wait
reasons of Go 1.19 to 1.24 are kept verbatim (`semacquire`, `sync.Mutex.Lock`,
`chan receive (nil chan)`, `select (no cases)`, ...). The grouping key of a stack is its
tuple of file lines (`\\t/src/x.go:12 +0x1d`): those carry no per-goroutine argument
values, so goroutines in the same place share one GoStack without any normalization
pass; function names are taken from the first goroutine seen in that stack.

Normal output that is not a goroutine record is read as such, not counted as malformed:
a panic's `panic: ...` / `fatal error: ...` preamble (kept in `panic`), the ancestor
stacks of GODEBUG=tracebackancestors (`[originating from goroutine N]:`, skipped), Go <= 1.4
cgo frames (` ??:0 +0x6d`, indented by a space), `fp=... sp=...` suffixes (GOTRACEBACK=crash),
`...additional frames elided...` (a deep stack, not a truncated one) and `stack unavailable`.

`GoStack.key` is a stack's identity across forms: (function, file:line) pairs without
offsets or leading runtime frames, the part debug=1 and debug=2 print alike; the rules match
groups across dumps by it.

Pure and total: any text gives a GoroutineDump, with warnings for what was odd.
"""

from __future__ import annotations

import hashlib
import re
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
_UNAVAILABLE = "goroutine running on other thread; stack unavailable"
_ANCESTOR = "[originating from goroutine "
_FILE_LINE = re.compile(r":\d+(?: \+0x[0-9a-f]+)?$")
_FP_SP = re.compile(r" fp=0x[0-9a-f]+ sp=0x[0-9a-f]+(?: pc=0x[0-9a-f]+)?")
# Inferred for debug=1 when the topmost frames were runtime ones (hidden by debug=1) and the
# first shown frame is the caller: it is parked in a channel operation or a select.
CHAN_OR_SELECT = "chan or select"


@dataclass(slots=True, eq=False)
class GoStack:
    files: tuple[str, ...]  # "/usr/lib/go/src/sync/mutex.go:171 +0x165" (key)
    funcs: tuple[str, ...]  # "sync.(*Mutex).lockSlow", arguments removed
    created_by: str = ""  # "main.mutexMode"
    _digest: str = ""
    _key: tuple[str, ...] | None = None

    @property
    def digest(self) -> str:
        if not self._digest:
            h = hashlib.blake2b("\n".join(self.funcs + self.files).encode(), digest_size=8)
            self._digest = h.hexdigest()
        return self._digest

    def has(self, marker: str) -> bool:
        return any(marker in f for f in self.funcs)

    @property
    def key(self) -> tuple[str, ...]:
        """`func path:line` per frame, leading runtime frames dropped (debug=1 hides them),
        offsets dropped (debug=1 prints the call's address, debug=2 the return address)."""
        if self._key is None:
            frames = [f"{fn} {file.split(' ', 1)[0]}"
                      for fn, file in zip(self.funcs, self.files, strict=False)]
            i = 0
            while i < len(frames) and frames[i].startswith("runtime."):
                i += 1
            self._key = tuple(frames[i:])
        return self._key


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
    panic: str = ""  # "panic: ..." / "fatal error: ..." / "SIGQUIT: quit" before the records
    taken_at: str = ""  # a log timestamp the dump carried (ISO 8601), set by the caller
    name: str = ""  # "dump 2" when several were given

    @property
    def max_id(self) -> int:
        """The highest goroutine id: ids only grow in a process (debug=2 only, else 0)."""
        return max((g.id for g in self.goroutines), default=0)

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
            **({"panic": self.panic} if self.panic else {}),
            **({"taken_at": self.taken_at} if self.taken_at else {}),
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
                tuple(x.strip() for x in files if x.strip() != _UNAVAILABLE), tuple(names),
                created)
        return st


_PREAMBLE = ("panic: ", "fatal error: ", "SIGQUIT", "SIGABRT", "SIGSEGV", "SIGBUS", "SIGILL",
             "SIGTRAP", "SIGFPE", "unexpected fault address", "runtime: ")


def _dedent(text: str) -> str:
    """goconvey and test logs indent the whole traceback: drop that common indent."""
    m = re.search(r"(?m)^([ \t]+)goroutine \d+ (?:gp=\S+ m=\S+ )?\[", text)
    if not m:
        return text
    return re.sub(rf"(?m)^{re.escape(m.group(1))}", "", text)


_STAMPED = re.compile(
    rb"(?m)^(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?) "
    rb"[^\n]{0,200}?goroutine (?:\d+ |profile: total)")


def carried_time(data: bytes | str) -> str:
    """The log timestamp on the dump's first line (a container log, `docker logs -t`),
    ISO 8601, or "": the only wall-clock time a goroutine dump carries."""
    head = data[:1 << 20]
    m = _STAMPED.search(head.encode() if isinstance(head, str) else head)
    return m.group(1).decode().replace(",", ".").replace(" ", "T", 1) if m else ""


def parse_goroutines(text: str) -> GoroutineDump:
    """Parse a goroutine dump, debug=1 or debug=2 (detected from the text)."""
    head = text.lstrip()[:200]
    if head.startswith("goroutine profile: total") or (
        "\n#\t0x" in text[:20000] and "goroutine " not in head):
        return parse_debug1(text)
    return parse_debug2(text)


def parse_debug2(text: str) -> GoroutineDump:
    dump = GoroutineDump("debug=2")
    if " fp=0x" in text[:65536]:  # GOTRACEBACK=crash: fp= sp= on every frame, per goroutine
        text = _FP_SP.sub("", text)
    if not text.startswith("goroutine ") and "\ngoroutine " not in text:
        text = _dedent(text)
    stacks = _Stacks()
    out = dump.goroutines
    bad = 0
    ancestors = _ANCESTOR in text  # GODEBUG=tracebackancestors=N
    for block in text.split("\n\n"):
        lines = block.strip("\n").split("\n")
        if "\ngoroutine " in block or not lines[0].startswith("goroutine "):
            # Lost blank lines (or text before the record): split at each header.
            starts = [i for i, ln in enumerate(lines) if ln.startswith("goroutine ")]
            head = lines[: starts[0]] if starts else lines
            if not out and not dump.panic:
                dump.panic = next((ln for ln in head if ln.startswith(_PREAMBLE)), "")
            # Text that is no record: a preamble or a trailer ("exit status 2") is normal
            # output; only orphan frames (a file line) are a malformed record.
            bad += any(ln[:1] == "\t" and _FILE_LINE.search(ln) for ln in head)
            if not starts:
                continue
            for a, z in zip(starts, [*starts[1:], len(lines)], strict=True):
                if not _goroutine(lines[a:z], stacks, out, ancestors):
                    bad += 1
            continue
        if not _goroutine(lines, stacks, out, ancestors):
            bad += 1
    if bad:
        dump.warnings.append(f"{bad} malformed goroutine record(s) skipped or partial")
    tail = text[-4096:]  # not text.rstrip(): a copy of the whole text
    last = tail.rstrip().rsplit("\n", 1)[-1]
    if out and _is_trailer(last):
        pass  # the program's exit, printed after a complete dump
    elif out and not tail.rstrip(" ").endswith("\n"):
        dump.truncated = True
        dump.warnings.append("truncated: the dump does not end with a newline")
    elif out and not last.startswith(("\t", " ")) and last != _ELIDED:
        # every complete record ends with a frame's file line (tab-indented)
        dump.truncated = True
        dump.warnings.append("truncated: the last goroutine's stack ends mid-frame")
    if not out:
        dump.warnings.append("no goroutines found: not a goroutine dump?")
    return dump


def _is_trailer(line: str) -> bool:
    """What a crashing program prints after its goroutines (registers, exit status)."""
    return line.startswith(("exit status ", "rax ", "r15 ", "rflags ", "gs ", "pc ", "lr ",
                            "[process exited")) or line.startswith(_PREAMBLE)


def _goroutine(lines: list[str], stacks: _Stacks, out: list[Goroutine],
               ancestors: bool = False) -> bool:
    """One debug=2 record; False when it was malformed (what could be read is kept)."""
    h = _header(lines[0])
    if h is None:
        return False
    gid, state, minutes, locked = h
    if lines[-1][:1] != "\t" and _is_trailer(lines[-1]):
        lines = lines[:-1]  # "exit status 2" right after the last record
    if ancestors:
        for i in range(1, len(lines)):
            if lines[i].startswith(_ANCESTOR):  # tracebackancestors: another goroutine's
                lines = lines[:i]
                break
    ok = len(lines) > 1
    if len(lines) % 2 == 1 and _ELIDED not in lines and all(
            ln[:1] == "\t" for ln in lines[2::2]):
        funcs, files = lines[1::2], lines[2::2]  # the regular shape: func, file, func, ...
    else:
        funcs, files = [], []
        for ln in lines[1:]:
            # Go <= 1.4 cgo frames have their file line indented by a space (` ??:0 +0x6d`)
            (files if ln[:1] in ("\t", " ") else funcs).append(ln)
        unavailable = any(x.strip() == _UNAVAILABLE for x in files)
        nfiles = len(files) - unavailable
        ok = ok and (len(funcs) == nfiles or (_ELIDED in funcs and len(funcs) == nfiles + 1))
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


def _infer_state(funcs: tuple[str, ...], hidden: int) -> str:
    """`hidden`: runtime frames above the first shown one (`N @` lists every pc)."""
    for fn in funcs[:4]:
        state = _INFER.get(fn)
        if state:
            return state
    if hidden and funcs and not funcs[0].startswith(("runtime", "internal/", "sync.", "time.",
                                                     "os/signal.", "syscall.")):
        # Parked by the runtime straight from app code: gopark under chanrecv/chansend/
        # selectgo (a sleep, lock, I/O or Cond wait shows its own frame, matched above).
        return CHAN_OR_SELECT
    return ""


def _hidden(pcs: str, first_pc: str) -> int:
    """How many pcs of `N @ pc pc ...` come before the first shown frame's (its shown pc
    is the call's: the return address minus one)."""
    try:
        ret = f"{int(first_pc, 16) + 1:#x}"
    except ValueError:
        return 0
    listed = pcs.split()
    for pc in (ret, first_pc):
        if pc in listed:
            return listed.index(pc)
    return 0


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
        first_pc = ""
        for ln in lines[1:]:
            if ln.startswith("#\t"):
                parts = ln[2:].split("\t")
                parts = [p for p in parts if p]
                if len(parts) >= 2:
                    name = parts[1]
                    plus = name.rfind("+0x")
                    funcs.append(name[:plus] if plus > 0 else name)
                    # "main.go:92 +0x1a" as debug=2 writes it (the offset is the call's)
                    off = f" {name[plus + 1:]}" if plus > 0 else ""
                    files.append(parts[2].strip() + off if len(parts) > 2 else "")
                    first_pc = first_pc or parts[0]
            elif ln.startswith("# labels: "):
                labels = ln[10:]
        stack = GoStack(tuple(files) or (pcs.strip(),), tuple(funcs))
        dump.records.append(GoGroup(_infer_state(stack.funcs, _hidden(pcs, first_pc)), stack,
                                    int(count_s), labels=labels))
    if bad:
        dump.warnings.append(f"{bad} malformed record(s) skipped")
    if dump.declared_total is not None and dump.declared_total != dump.total:
        dump.truncated = dump.total < dump.declared_total
        dump.warnings.append(
            f"header says {dump.declared_total} goroutines, records add up to {dump.total}")
    if not dump.records:
        dump.warnings.append("no goroutine records found: not a goroutine dump?")
    return dump
