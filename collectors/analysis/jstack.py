"""Parser for JVM thread dumps: jstack, `jcmd PID Thread.print [-l]`, SIGQUIT output.

Covers JDK 8 to 25 headers (`#id`, `[osid]`, daemon, prio, os_prio, cpu=, elapsed=,
tid, nid in hex or decimal), lock lines, "Locked ownable synchronizers", the
"Found one Java-level deadlock" section, SMR info, the JNI trailer and virtual-thread
carriers; older and rarer shapes through the line parser: Java 5/6 and HP-UX dumps
(no state line: the state comes from the header), VisualVM's, frames indented with
spaces, JDK 25's thread line without a name, and the serviceability agent's
(`jstack -F`, `jhsdb jstack`). Thread.dump_to_file output is dumptofile.py's.
Pure and total: any text gives a ThreadDump, with warnings for what was odd.

Speed (30 000 threads, 31 MB, in about 0.25 s of CPU): the text is walked block by block
(blocks end at a blank line) with str.find offsets, never split. A block that is one
ordinary thread costs one regex match in place for its header and state line and one
dict lookup of its frame and lock lines as a single string: threads of one pool print
the same lines, which are split and parsed once. Identical stacks share one JavaStack
(deduplicated through a dict keyed by the frame tuple), so grouping is a dict lookup
per thread, never a pairwise comparison. Any other block (the dump's header, a deadlock
report, a damaged thread) goes through the line-by-line parser, which also decides for
the fast path whenever a header has an unusual shape.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

from collectors.analysis.pools import NameFolder

# Lock line kinds, as printed after "\t- ".
WAITING_ON = "waiting on"
WAITING_TO_LOCK = "waiting to lock"
LOCKED = "locked"
PARKING = "parking to wait for"
RELOCK = "waiting to re-lock in wait()"
ELIMINATED = "eliminated"
_KINDS = {k: k for k in (WAITING_ON, WAITING_TO_LOCK, LOCKED, PARKING, RELOCK, ELIMINATED)}

VM_STATE = "(vm)"  # threads without a java.lang.Thread.State line: VM, GC, compiler threads
_STATES = frozenset(("NEW", "RUNNABLE", "BLOCKED", "WAITING", "TIMED_WAITING", "TERMINATED"))
# Header status -> state, for dumps that print no state line at all (Java 5, HP-UX).
_STATUS_STATE = {
    "runnable": "RUNNABLE", "waiting for monitor entry": "BLOCKED", "in Object.wait()": "WAITING",
    "waiting on condition": "WAITING", "sleeping": "TIMED_WAITING", "suspended": "WAITING",
}


@dataclass(slots=True, frozen=True)
class LockRef:
    kind: str  # one of the kinds above
    address: str  # "0x00000000fc086ee8", "" when the JVM printed no object
    class_name: str  # "java.lang.Object"
    frame: int  # index of the frame the line belongs to, -1 before any frame


@dataclass(slots=True, eq=False)
class JavaStack:
    """One distinct stack; shared by every thread that has exactly these frames."""

    frames: tuple[str, ...]  # "java.lang.Thread.sleep(java.base@17.0.15/Native Method)"
    _digest: str = ""

    @property
    def digest(self) -> str:
        """Stable across processes (Python's hash() is not): stored summaries use it."""
        if not self._digest:
            h = hashlib.blake2b("\n".join(self.frames).encode(), digest_size=8)
            self._digest = h.hexdigest()
        return self._digest

    def has(self, marker: str) -> bool:
        return any(marker in f for f in self.frames)


@dataclass(slots=True, eq=False)
class JavaThread:
    name: str
    pool: str  # folded name, see pools.fold_name
    java_id: int | None  # "#12"
    os_id: int | None  # nid (hex before JDK 19, decimal after), or JDK 21's "[osid]"
    daemon: bool
    state: str  # java.lang.Thread.State: RUNNABLE, BLOCKED, ... or VM_STATE
    detail: str  # "(on object monitor)", "(parking)", ...
    status: str  # header text after nid: "waiting for monitor entry", "runnable"
    cpu_ms: float | None
    elapsed_s: float | None
    stack: JavaStack
    locks: tuple[LockRef, ...] = ()
    ownable: tuple[str, ...] = ()  # addresses from "Locked ownable synchronizers"
    carrying: int | None = None  # id of the virtual thread this carrier runs
    virtual: bool = False  # a virtual thread (only Thread.dump_to_file lists them)

    def waits_for(self) -> LockRef | None:
        """The lock this thread is blocked on or parked for, if any (top-most first)."""
        for lock in self.locks:
            if lock.kind in (WAITING_TO_LOCK, PARKING, WAITING_ON, RELOCK):
                return lock
        return None


@dataclass(slots=True)
class DeadlockEdge:
    thread: str
    waits_for: str  # "monitor 0x... (object 0x..., a java.lang.Object)"
    address: str  # object address, matches LockRef.address
    class_name: str
    held_by: str


@dataclass(slots=True)
class Deadlock:
    edges: list[DeadlockEdge] = field(default_factory=list)


@dataclass(slots=True, eq=False)
class ThreadDump:
    threads: list[JavaThread] = field(default_factory=list)
    deadlocks: list[Deadlock] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    source: str = "jstack"  # "jcmd" when the dump starts with "PID:"
    jvm: str = ""  # "OpenJDK 64-Bit Server VM (17.0.15+6 mixed mode, sharing)"
    timestamp: str = ""  # "2024-01-01 00:00:00" as printed
    pid: int | None = None
    smr_length: int | None = None
    jni_refs: str = ""  # the JNI trailer, e.g. "JNI global refs: 12, weak refs: 0"
    deadlock_count: int = 0  # "Found 2 deadlocks."
    # False for formats that end without a JNI line (jstack -F, Thread.dump_to_file):
    # their lack of one says nothing about truncation.
    trailer: bool = True

    @property
    def kind(self) -> str:
        return "jvm"

    @property
    def truncated(self) -> bool:
        return bool(self.threads) and self.trailer and not self.jni_refs

    def groups(self) -> list[tuple[JavaStack, list[JavaThread]]]:
        """Threads grouped by identical stack, largest group first."""
        # JavaStack compares and hashes by identity (eq=False): the stack itself is the key.
        by: dict[JavaStack, list[JavaThread]] = {}
        for t in self.threads:
            members = by.get(t.stack)
            if members is None:
                by[t.stack] = [t]
            else:
                members.append(t)
        return sorted(by.items(), key=lambda g: -len(g[1]))

    def summary(self, top: int = 20, max_pools: int = 200) -> dict[str, Any]:
        """JSON-able counts; enough to store, show and diff without reparsing."""
        # One pass in C over (stack, state, pool) triples (a JavaStack hashes by identity);
        # every count below is a sum over the distinct triples in first-seen order, so
        # each Counter has the insertion order (hence most_common()'s tie order) that a
        # pass over the threads would give it, and the groups come in groups()' order.
        states: Counter[str] = Counter()
        pools: Counter[str] = Counter()
        by_stack: dict[JavaStack, tuple[Counter[str], Counter[str]]] = {}
        for (stack, state, pool), k in Counter(map(_STACK_STATE_POOL, self.threads)).items():
            states[state] += k
            pools[pool] += k
            per = by_stack.get(stack)
            if per is None:
                per = by_stack[stack] = (Counter(), Counter())
            per[0][state] += k
            per[1][pool] += k
        groups: list[dict[str, Any]] = []
        for stack, (g_states, g_pools) in sorted(by_stack.items(),
                                                 key=lambda kv: -kv[1][0].total()):
            if not stack.frames:
                continue
            if len(groups) >= top:
                break
            groups.append({
                "key": stack.digest,
                "count": g_states.total(),
                "states": dict(g_states),
                "pools": dict(g_pools.most_common(5)),
                "frames": list(stack.frames[:12]),
            })
        out = {
            "kind": "jvm",
            "format": self.source,
            "jvm": self.jvm,
            "timestamp": self.timestamp,
            "pid": self.pid,
            "threads": len(self.threads),
            "states": dict(states.most_common()),
            "pools": _capped(pools, max_pools),
            "groups": groups,
            "deadlocks": len(self.deadlocks),
            "truncated": self.truncated,
            "warnings": list(self.warnings),
        }
        if self.source.startswith("Thread.dump_to_file"):  # the dumps that list them
            out["virtual"] = sum(t.virtual for t in self.threads)
        return out


_STACK_STATE_POOL = attrgetter("stack", "state", "pool")


def _capped(counts: Counter[str], limit: int) -> dict[str, int]:
    items = counts.most_common()
    out = dict(items[:limit])
    rest = sum(n for _, n in items[limit:])
    if rest:
        out["(other)"] = rest
    return out


# The common header shape, JDK 8 to 21; anything else goes through _parse_header.
_HEADER = re.compile(
    r'"(.*)"(?: #(\d+))?(?: \[(\d+)\])?( daemon)?(?: prio=-?\d+)? os_prio=-?\d+'
    r"(?: cpu=([\d.]+)ms)?(?: elapsed=([\d.]+)s)? tid=\S+ nid=(\S+)(.*)$")
# The fast path's view of a thread block's start, matched in place (pos/endpos) right
# after the name's closing quote: the rest of _HEADER's line, its newline (or the block's
# end: VM threads print only a header), and the optional state line (as the groups of
# `state, _, detail = line.partition(" ")`). No header string, no state-line string, and
# no backtracking over the name, which a greedy `"(.*)"` costs (it made _HEADER twice as
# slow as this).
_HEAD_REST = re.compile(
    _HEADER.pattern[len('"(.*)"') : -1]
    + r"(?:\n|\Z)(?:   java\.lang\.Thread\.State: ([^ \n]*)(?: ([^\n]*))?(?:\n|\Z))?")
# The empty list `jcmd Thread.print -l` / `jstack -l` prints after most threads, between
# its blank lines: a block that changes nothing after a thread parsed by the fast path,
# so it is skipped whole (matched from the end of the thread's block).
_NO_OWNABLE = "\n\n   Locked ownable synchronizers:\n\t- None\n\n"


def _make_thread(header: str, fold: Callable[[str], str], state: str, detail: str, stack: JavaStack,
                 locks: tuple[LockRef, ...], ownable: tuple[str, ...],
                 carrying: int | None) -> JavaThread:
    m = _HEADER.match(header)
    if m is not None:
        name, jid, osid, daemon, cpu, elapsed, nid, rest = m.groups()
        status = rest.strip()
        if status.endswith("]"):
            status = status[: status.rfind("[")].rstrip()
        return JavaThread(
            name, fold(name), int(jid) if jid else None,
            _int(nid) if nid else _int(osid), daemon is not None, state, detail, status,
            float(cpu) if cpu else None, float(elapsed) if elapsed else None, stack, locks,
            ownable, carrying)
    name, f, words = _parse_header(header)
    nid = f.get("nid")
    if state == VM_STATE:  # Java 6 (`"x" id=12 in RUNNABLE`) prints the state in the header
        state = next((w for w in words if w in _STATES), state)
    return JavaThread(
        name, fold(name), _int(f.get("#") or f.get("id")),
        _int(nid) if nid else _int(f.get("osid")),
        "daemon" in f, state, detail, " ".join(words), _duration(f.get("cpu"), "ms"),
        _duration(f.get("elapsed"), "s"), stack, locks, ownable, carrying)


def _parse_header(line: str) -> tuple[str, dict[str, str], list[str]]:
    """`"name" #1 [123] daemon prio=5 ... nid=0x1b waiting on condition  [0x7f..]`
    -> name, key=value fields (plus "#", "osid", "daemon"), status words."""
    end = line.rfind('"')
    if end <= 0:
        return line[1:], {}, []
    name = line[1:end]
    fields: dict[str, str] = {}
    status: list[str] = []
    for tok in line[end + 1 :].split():
        c = tok[0]
        if c == "#":
            fields["#"] = tok[1:]
        elif tok[:2] == "t@" and tok[2:].isdigit():
            fields["#"] = tok[2:]  # VisualVM: "name" - Thread t@12
        elif c == "[":
            if tok[1:3] != "0x" and tok[-1:] == "]":
                fields["osid"] = tok[1:-1]  # JDK 21: [12345]
        elif "=" in tok:
            k, _, v = tok.partition("=")
            fields[k] = v
        elif tok == "daemon" and not status:
            fields["daemon"] = "1"
        else:
            status.append(tok)
    return name, fields, status


def _int(s: str | None) -> int | None:
    if not s:
        return None
    try:
        return int(s, 16) if s[:2] in ("0x", "0X") else int(s)
    except ValueError:
        return None


def _duration(s: str | None, unit: str) -> float | None:
    """"12.34ms" / "5.59s" -> float in that unit."""
    if not s or not s.endswith(unit):
        return None
    try:
        return float(s[: -len(unit)])
    except ValueError:
        return None


def _spaced(line: str, frames: list[str], locks: list[LockRef]) -> None:
    """A frame or lock line indented with spaces: edited dumps, IBM-era tools, Java 6
    (`    at x.y(Z.java:1)`), and the serviceability agent (jstack -F, jhsdb jstack),
    whose frames read ` - x.y() @bci=3, line=7 (Interpreted frame)`. Frames are kept
    in the "\tat " form every other frame has."""
    s = line.lstrip()
    if s.startswith("at "):
        frames.append("\tat " + s[3:])
    elif s.startswith("- "):
        if line.startswith(" - ") and "@bci=" in s:
            frames.append("\tat " + s[2:])
        elif "<" in s:
            locks.append(_parse_lock(s[2:], len(frames) - 1))


def _parse_lock(body: str, frame: int) -> LockRef:
    """`locked <0x...> (a java.lang.Object)` (the text after "\\t- ")."""
    lt = body.find("<")
    if lt < 0:
        return LockRef(_KINDS.get(body.strip(), body.strip()), "", "", frame)
    kind = body[:lt].rstrip()
    gt = body.find(">", lt)
    address = body[lt + 1 : gt] if gt > 0 else body[lt + 1 :]
    if not address.startswith("0x"):
        address = ""  # "<no object reference available>", "<owner is scalar replaced>"
    cls = ""
    a = body.find("(a ", gt)
    if a >= 0:
        cls = body[a + 3 : body.find(")", a)] if ")" in body[a:] else body[a + 3 :]
    return LockRef(_KINDS.get(kind, kind), address, cls, frame)


def _resolve_waits(locks: tuple[LockRef, ...]) -> tuple[LockRef, ...]:
    """A wait() the JVM printed as `waiting on <no object reference available>` (a
    compiled frame: HC 3.1's doGetConnection once hot) waits on the monitor the thread
    holds in the frames below: Object.wait() needs that monitor, and it is the innermost
    one (the first `locked` line after the wait). Without this, the same pool wait reads
    as two different waits depending on how the JIT treated each thread."""
    for i, lk in enumerate(locks):
        if lk.kind == WAITING_ON and not lk.address:
            owned = next((x for x in locks[i + 1 :] if x.kind == LOCKED and x.address), None)
            if owned is not None:
                fixed = LockRef(WAITING_ON, owned.address, owned.class_name, lk.frame)
                return (*locks[:i], fixed, *locks[i + 1 :])
    return locks


class _Builder:
    """Parser state: the thread being parsed line by line (flush() turns it into a
    JavaThread) and the caches the fast path shares (stacks, bodies, pool names)."""

    __slots__ = (
        "add", "bodies", "carrying", "detail", "dump", "fold", "frames", "header", "locks",
        "ownable", "stacks", "state",
    )

    def __init__(self, dump: ThreadDump) -> None:
        self.dump = dump
        self.add = dump.threads.append
        self.fold = NameFolder().__call__  # the bound method: a cheaper call, per thread
        self.stacks: dict[tuple[str, ...], JavaStack] = {}
        # Text of a block's frame and lock lines -> its stack and locks (see _fast_thread).
        self.bodies: dict[str, tuple[JavaStack, tuple[LockRef, ...]]] = {}
        self.header: str | None = None
        self.reset()

    def reset(self) -> None:
        self.frames: list[str] = []
        self.locks: list[LockRef] = []
        self.ownable: list[str] = []
        self.state = VM_STATE
        self.detail = ""
        self.carrying: int | None = None

    def stack_for(self, key: tuple[str, ...]) -> JavaStack:
        """key: the raw "\tat ..." lines; identical stacks share one JavaStack."""
        stack = self.stacks.get(key)
        if stack is None:
            stack = self.stacks[key] = JavaStack(tuple(ln[4:] for ln in key))
        return stack

    def body(self, text: str) -> tuple[JavaStack, tuple[LockRef, ...]]:
        """The stack and locks of a block's lines after its header and state lines."""
        hit = self.bodies.get(text)
        if hit is None:
            hit = self.bodies[text] = self.new_body(text)
        return hit

    def new_body(self, text: str) -> tuple[JavaStack, tuple[LockRef, ...]]:
        """body() for lines not seen before: split and parsed."""
        lines = text.split("\n")
        if "\t- " not in text and text.count("\n\tat ") + text.startswith("\tat ") == len(lines):
            return self.stack_for(tuple(lines)), ()  # only frames: the tuple is made in C
        frames: list[str] = []
        found: list[LockRef] = []
        for ln in lines:
            if ln.startswith("\tat "):
                frames.append(ln)
            elif ln.startswith("\t- "):
                found.append(_parse_lock(ln[3:], len(frames) - 1))
            elif ln[:1] == " ":
                _spaced(ln, frames, found)
        return self.stack_for(tuple(frames)), _resolve_waits(tuple(found))

    def flush(self) -> None:
        if self.header is None:
            return
        self.dump.threads.append(_make_thread(
            self.header, self.fold, self.state, self.detail, self.stack_for(tuple(self.frames)),
            _resolve_waits(tuple(self.locks)), tuple(self.ownable), self.carrying))
        self.header = None
        self.reset()


@dataclass(slots=True)
class _Section:
    """Where the line parser is: inside a deadlock report, an ownable-synchronizer list."""

    deadlock: Deadlock | None = None
    edge: DeadlockEdge | None = None
    in_stacks: bool = False  # "Java stack information for the threads listed above"
    in_ownable: bool = False
    skipped: int = 0


def _fast_thread(text: str, start: int, eol: int, end: int, b: _Builder) -> None:
    """One thread block, text[start:end], in its usual shape: header (ending at eol),
    state, frames.

    Works on offsets into the whole text, so the usual block costs one regex match (header
    and state line), one slice (its frame and lock lines) and no per-line strings. Those
    lines are looked up as one string in b.bodies: threads of one pool print the very
    same lines (same frames, same monitor), and only a body not seen before is split.

    The name ends at the header's last quote when the rest of the line has _HEADER's
    shape; _HEADER's greedy `"(.*)"` tries that quote first, so both find the same name.
    Otherwise (a quote in the status, an odd header) _odd_thread lets _HEADER decide."""
    q = text.rfind('"', start + 1, eol)
    m = _HEAD_REST.match(text, q + 1, end) if q > start else None
    if m is None:
        _odd_thread(text, start, end, b)
        return
    jid, _, daemon, cpu, elapsed, nid, rest, state, detail = m.groups()
    if state is None:  # no state line: a VM thread, or a log line got in (a container log)
        s = text.find("\n   java.lang.Thread.State: ", m.end() - 1, end)
        if s < 0:
            state, detail = VM_STATE, ""
        else:
            eos = text.find("\n", s + 1, end)
            state, _, detail = text[s + 28 : eos if eos >= 0 else end].partition(" ")
    elif detail is None:
        detail = ""
    p = m.end()
    carrying = None
    if text.startswith("   ", p):  # more indented lines (a virtual thread's carrier)
        state, detail, carrying, p = _indented(text, p, end, state, detail)
    body = text[p:end]
    hit = b.bodies.get(body)
    if hit is None:
        hit = b.bodies[body] = b.new_body(body)
    status = rest.strip()
    if status.endswith("]"):
        status = status[: status.rfind("[")].rstrip()
    os_id: int | None
    try:  # _int(nid), inline: this runs once per thread
        os_id = int(nid, 16) if nid.startswith("0x") else int(nid)
    except ValueError:
        os_id = _int(nid)
    name = text[start + 1 : q]
    b.add(JavaThread(
        name, b.fold(name), int(jid) if jid else None, os_id, daemon is not None, state,
        detail, status, float(cpu) if cpu else None, float(elapsed) if elapsed else None,
        hit[0], hit[1], (), carrying))


def _indented(text: str, p: int, end: int, state: str,
              detail: str) -> tuple[str, str, int | None, int]:
    """The indented lines after a header, from offset p: state and carrier lines.
    Returns state, detail, carried virtual thread id, offset of the first other line.
    startswith() cannot match across the end of a line: the prefixes hold no "\n"."""
    carrying = None
    while p < end and text.startswith("   ", p):
        q = text.find("\n", p, end)
        if q < 0:
            q = end
        if text.startswith("   java.lang.Thread.State: ", p):
            state, _, detail = text[p + 27 : q].partition(" ")
        elif text.startswith("   Carrying virtual thread #", p):
            carrying = _int(text[p + 28 : q].split(" ", 1)[0])
        elif text[p:q].lstrip().startswith(("at ", "- ")):
            break  # frames indented with spaces (see _spaced)
        p = q + 1
    if carrying is not None and state == VM_STATE:
        state = "RUNNABLE"  # JDK 21+ prints "Carrying virtual thread" instead of a state
    return state, detail, carrying, p


def _odd_thread(text: str, start: int, end: int, b: _Builder) -> None:
    """_fast_thread for a header _HEAD_REST does not take: _make_thread parses it."""
    eol = text.find("\n", start, end)
    if eol < 0:
        eol = end
    state, detail, carrying, p = _indented(text, eol + 1, end, VM_STATE, "")
    stack, locks = b.body(text[p:end])
    b.dump.threads.append(_make_thread(text[start:eol], b.fold, state, detail, stack, locks,
                                       (), carrying))


def parse_thread_dump(text: str) -> ThreadDump:
    """Parse one JVM thread dump (text already decoded, see dumptext.prepare).

    Blocks (separated by blank lines) that are one ordinary thread take the fast path;
    everything else (headers, deadlock report, damaged blocks) goes line by line. The
    blocks are walked by offset (str.find) rather than split out: a 30 MB dump is not
    copied block by block."""
    dump = ThreadDump()
    b = _Builder(dump)
    sec = _Section()
    find, startswith, n = text.find, text.startswith, len(text)
    pos = 0
    while pos <= n:  # the blocks of text.split("\n\n"), the last one possibly empty
        end = find("\n\n", pos)
        if end < 0:
            end = n
        # One thread per block: no line after the header starts with a quote. A quote
        # after the header line is rare (memchr finds none); only then look for '\n"'.
        if startswith('"', pos) and sec.deadlock is None and (
                (eol := find("\n", pos, end)) < 0 or find('"', eol, end) < 0
                or find('\n"', eol, end) < 0):
            if b.header is not None:
                b.flush()
            sec.in_ownable = False
            _fast_thread(text, pos, eol if eol >= 0 else end, end, b)
            if startswith(_NO_OWNABLE, end):
                end += len(_NO_OWNABLE) - 2  # the next block is that empty list: skip it
        elif (startswith("   Locked ownable synchronizers:", pos) and sec.deadlock is None
              and (b.header is not None or dump.threads)):
            b.flush()
            if find("<", pos, end) >= 0:
                dump.threads[-1].ownable = _ownable(text, pos, end)
        else:
            _lines(text[pos:end].split("\n"), b, sec)
        pos = end + 2
    b.flush()
    _states_without_state_lines(dump)
    if not dump.threads:
        dump.warnings.append("no threads found: not a JVM thread dump?")
    elif dump.truncated:
        dump.warnings.append(
            "truncated: no 'JNI global refs' trailer; the last thread may be incomplete")
    if sec.skipped:
        dump.warnings.append(f"{sec.skipped} unrecognized line(s) skipped")
    if len(dump.deadlocks) != dump.deadlock_count and dump.deadlocks:
        dump.warnings.append("deadlock section incomplete")
    return dump


def _states_without_state_lines(dump: ThreadDump) -> None:
    """States for dumps that print no `java.lang.Thread.State:` line (Java 5, HP-UX
    HotSpot): from the header's status, for every thread, since nothing tells VM threads
    apart there. jstack -F prints the serviceability agent's state: BLOCKED is any
    thread blocked in the VM (a sleep, a wait, a park as well as a monitor), and the
    IN_* states are running: the top frame says which."""
    threads = dump.threads
    if dump.source == "jstack -F":
        for t in threads:
            top = t.stack.frames[0] if t.stack.frames else ""
            if t.state == "BLOCKED":
                if ".sleep" in top:
                    t.state, t.detail = "TIMED_WAITING", "(sleeping)"
                elif "Object.wait" in top:
                    t.state, t.detail = "WAITING", "(on object monitor)"
                elif ".park" in top:
                    t.state, t.detail = "WAITING", "(parking)"
            elif t.state.startswith("IN_"):
                t.state, t.detail = "RUNNABLE", f"({t.state.lower()})"
        return
    if not threads or not all(t.state == VM_STATE or t.carrying is not None for t in threads):
        return
    for t in threads:
        if t.state == VM_STATE:
            state = _STATUS_STATE.get(t.status, VM_STATE)
            if state == "WAITING" and t.stack.frames and ".sleep" in t.stack.frames[0]:
                state = "TIMED_WAITING"
            t.state = state


def _ownable(text: str, pos: int, end: int) -> tuple[str, ...]:
    """The addresses of a "Locked ownable synchronizers:" block, text[pos:end] (the lines
    that start with "\t- <"), found in place: thousands of threads holding a lock each
    print one, and splitting every such block into lines showed in profiles."""
    out: list[str] = []
    i = text.find("\n\t- <", pos, end)
    while i >= 0:
        eol = text.find("\n", i + 1, end)
        ln = text[i + 1 : eol if eol >= 0 else end]
        out.append(ln[4 : ln.find(">")])
        i = text.find("\n\t- <", eol, end) if eol >= 0 else -1
    return tuple(out)


_SA_THREAD = re.compile(r"Thread (t@)?(\d+): \(state = (\w+)\)")
_HISTOGRAM = re.compile(r"\s*\d+:\s+\d+\s+\d+\s|num +#instances|Total +\d+ +\d+$|-{20,}$")
_NO_NAME = re.compile(r"(?:daemon )?(?:prio=-?\d+ )?os_prio=-?\d+ .*\btid=")
# What the serviceability agent (jstack -F, jhsdb jstack) prints before the threads.
_SA_PROLOGUE = ("Attaching to process ID", "Debugger attached successfully", "JVM version is ",
                "Server compiler detected", "Client compiler detected", "Deadlock Detection:",
                "No deadlocks found", "Finding concurrent locks")


def _lines(lines: list[str], b: _Builder, sec: _Section) -> None:
    dump = b.dump
    for line in lines:
        if line.startswith("\tat "):
            if not sec.in_stacks:
                b.frames.append(line)
        elif line.startswith("\t- "):
            if sec.in_stacks:
                continue
            body = line[3:]
            if sec.in_ownable:
                if body.startswith("<"):
                    b.ownable.append(body[1 : body.find(">")] if ">" in body else body[1:])
            else:
                b.locks.append(_parse_lock(body, len(b.frames) - 1))
        elif line.startswith('"'):
            sec.in_ownable = False
            if sec.deadlock is not None:
                if not sec.in_stacks:
                    sec.edge = DeadlockEdge(line.strip().strip(":").strip('"'), "", "", "", "")
                    sec.deadlock.edges.append(sec.edge)
                continue
            b.flush()
            b.header = line
        elif line.startswith("   java.lang.Thread.State: "):
            state, _, detail = line[27:].partition(" ")
            b.state, b.detail = state, detail
        elif not line or line.isspace():
            continue
        elif line.startswith("   Locked ownable synchronizers:"):
            sec.in_ownable = True
        elif line.startswith("   Carrying virtual thread #"):
            b.carrying = _int(line[28:].split()[0]) if line[28:].split() else None
            if b.state == VM_STATE:
                b.state = "RUNNABLE"
        elif line.startswith(("Locked ownable synchronizers:", "    Locked synchronizers:")):
            sec.in_ownable = True  # jhsdb jstack; Java 6
        elif line[0] == " " and b.header is not None and sec.deadlock is None:
            s = line.lstrip()
            if sec.in_ownable:
                if s.startswith("- <"):
                    b.ownable.append(s[3 : s.find(">")] if ">" in s else s[3:])
            elif s.startswith(("at ", "- ")):
                if not sec.in_stacks:
                    _spaced(line, b.frames, b.locks)
        elif sec.deadlock is not None and line.startswith("  "):
            if sec.edge is not None and not sec.in_stacks:
                _deadlock_line(sec.edge, line.strip())
        elif line.startswith("Found one Java-level deadlock"):
            b.flush()
            sec.in_ownable = sec.in_stacks = False
            sec.deadlock = Deadlock()
            sec.edge = None
            dump.deadlocks.append(sec.deadlock)
        elif line.startswith("Java stack information for the threads listed above"):
            sec.in_stacks = True
        elif line.startswith("Found ") and " deadlock" in line:
            sec.deadlock, sec.edge, sec.in_stacks = None, None, False
            words = line.split()  # "Found 2 deadlocks.", jstack -F: "Found a total of 2 ..."
            dump.deadlock_count = 1 if words[1] == "one" else next(
                (int(w) for w in words if w.isdigit()), 0)
        elif line.startswith("JNI global"):
            b.flush()
            sec.in_ownable = False
            dump.jni_refs = line.strip()
        elif line.startswith("Full thread dump "):
            dump.jvm = line[17:].rstrip(":")
        elif line.startswith("Thread ") and (m := _SA_THREAD.match(line)):
            b.flush()  # jstack -F (JDK 8 and older): `Thread 16653: (state = BLOCKED)`
            b.header = f'"Thread {m[1] or ""}{m[2]}" nid={m[2]}'
            b.state = m[3]
            dump.source, dump.trailer = "jstack -F", False
        elif _NO_NAME.match(line):
            b.flush()  # a thread without a name (JDK 25: `os_prio=31 cpu=... tid=...`)
            b.header = '"" ' + line
        elif line.startswith(_SA_PROLOGUE):
            dump.trailer = False  # the serviceability agent prints no JNI line
            if line.startswith("JVM version is "):
                dump.jvm = line[15:].strip()
            elif dump.source == "jstack":
                dump.source = "jhsdb jstack"
        elif line.startswith("_java_thread_list="):
            n = line.find("length=")
            dump.smr_length = _int(line[n + 7 :].split(",")[0]) if n > 0 else None
        elif not dump.threads and b.header is None and _header_line(dump, line):
            continue
        elif line[0] in " \t=0_}H" or line.startswith("Threads class SMR"):
            continue  # SMR addresses, "=====", the Heap summary after SIGQUIT
        elif _HISTOGRAM.match(line):
            continue  # -XX:+PrintClassHistogram prints one after the dump
        else:
            sec.skipped += 1


def _header_line(dump: ThreadDump, line: str) -> bool:
    """The lines before the first thread: jcmd's "PID:" and the timestamp."""
    s = line.strip()
    if s.endswith(":") and s[:-1].isdigit():
        dump.pid, dump.source = int(s[:-1]), "jcmd"
        return True
    if len(s) == 19 and s[4] == "-" and s[10] == " " and s[:4].isdigit():
        dump.timestamp = s
        return True
    return False


def _deadlock_line(edge: DeadlockEdge, s: str) -> None:
    """`waiting to lock monitor 0x.. (object 0x.., a java.lang.Object),`
    `waiting for ownable synchronizer 0x.., (a java.util...NonfairSync),`
    `which is held by "transfer-2"`."""
    if s.startswith("which is held by"):
        edge.held_by = s[16:].strip().strip('"')
    elif s.startswith("waiting"):
        edge.waits_for = s.rstrip(",")
        obj = s.find("(object ")
        if obj >= 0:
            edge.address = s[obj + 8 :].split(",")[0]
        else:
            words = s.replace(",", " ").split()
            edge.address = next((w for w in words if w.startswith("0x")), "")
        a = s.find(", a ") if obj >= 0 else s.find("(a ")
        if a >= 0:
            start = a + (4 if obj >= 0 else 3)
            edge.class_name = s[start:].split(")")[0]
