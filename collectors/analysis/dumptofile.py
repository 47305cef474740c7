"""`jcmd PID Thread.dump_to_file [-format=json] FILE` (JDK 21+): the one dump that lists
virtual threads (jstack and Thread.print omit them), as JSON or as plain text.

Both forms map to the ThreadDump model of jstack.py. What each JDK prints:
- JDK 21: tid, name and frames only (the text form adds " virtual" to virtual threads;
  the JSON form does not say, so a stack run by VirtualThread.run marks one). No state:
  such threads get UNKNOWN_STATE.
- JDK 24+: also the state, "virtual": true, the carrier of a mounted virtual thread,
  blockedOn / waitingOn / parkBlocker and the monitors owned (with their frame depth);
  the text form prints the same as `- waiting to lock <java.lang.Object@2673c0ca>` lines.
Frames stay as StackTraceElement prints them (`java.base/java.lang.Thread.sleep(...)`),
locks are named by their identity string (`java.lang.Object@2673c0ca`): these dumps
print no addresses. The JSON is read with the standard library; the text in one pass.
"""

from __future__ import annotations

import json
from typing import Any

from collectors.analysis.jstack import (
    LOCKED,
    PARKING,
    WAITING_ON,
    WAITING_TO_LOCK,
    JavaStack,
    JavaThread,
    LockRef,
    ThreadDump,
)
from collectors.analysis.pools import NameFolder

UNKNOWN_STATE = "(unknown)"  # JDK 21 prints no thread state in these dumps
JSON_SOURCE = "Thread.dump_to_file json"
TEXT_SOURCE = "Thread.dump_to_file text"
_VT_RUN = "java.lang.VirtualThread.run("


class _Threads:
    """Shared by both forms: identical stacks share one JavaStack, names fold to pools."""

    def __init__(self, dump: ThreadDump) -> None:
        self.dump = dump
        self.fold = NameFolder()
        self.stacks: dict[tuple[str, ...], JavaStack] = {}

    def add(self, tid: int | None, name: str, state: str, frames: tuple[str, ...],
            locks: tuple[LockRef, ...], virtual: bool | None, container: str = "") -> JavaThread:
        stack = self.stacks.get(frames)
        if stack is None:
            stack = self.stacks[frames] = JavaStack(frames)
        if virtual is None:  # JDK 21's JSON does not flag virtual threads
            virtual = any(_VT_RUN in f for f in frames[-3:])
        t = JavaThread(name, self._pool(name, virtual, container), tid, None, False, state, "",
                       "", None, None, stack, locks, virtual=virtual)
        self.dump.threads.append(t)
        return t

    def _pool(self, name: str, virtual: bool, container: str) -> str:
        if name:
            return self.fold(name)
        # Unnamed threads (most virtual threads) by their container: an executor's
        # virtual threads together, `ThreadPerTaskExecutor`, rather than all as "".
        if container and container != "<root>":
            return container.split("@")[0].rsplit("/", 1)[0].rsplit(".", 1)[-1]
        return "(unnamed virtual)" if virtual else "(unnamed)"


def parse_json_dump(text: str) -> ThreadDump:
    """The JSON form. Never raises: a damaged document gives a warning."""
    dump = ThreadDump(source=JSON_SOURCE, trailer=False)
    try:
        doc = json.loads(text)
    except ValueError as e:
        dump.warnings.append(f"not valid JSON ({e}): a truncated Thread.dump_to_file?")
        return dump
    root = doc.get("threadDump") if isinstance(doc, dict) else None
    if not isinstance(root, dict):
        dump.warnings.append("no threadDump object: not a Thread.dump_to_file JSON dump")
        return dump
    dump.pid = _int(root.get("processId"))
    dump.timestamp = str(root.get("time") or "")
    dump.jvm = str(root.get("runtimeVersion") or "")
    threads = _Threads(dump)
    carriers: dict[int, int] = {}  # carrier tid -> the virtual thread it carries
    owners: list[tuple[int, str]] = []  # (owner tid, lock) from parkBlocker owners
    for c in _dicts(root.get("threadContainers")):
        container = str(c.get("container") or "")
        for t in _dicts(c.get("threads")):
            _json_thread(t, container, threads, carriers, owners)
    by_tid = {t.java_id: t for t in dump.threads if t.java_id is not None}
    for carrier, vt in carriers.items():
        if carrier in by_tid:
            by_tid[carrier].carrying = vt
    for owner, lock in owners:
        if owner in by_tid:
            by_tid[owner].ownable += (lock,)
    if not dump.threads:
        dump.warnings.append("no threads found: not a JVM thread dump?")
    return dump


def _json_thread(t: dict[str, Any], container: str, threads: _Threads,
                 carriers: dict[int, int], owners: list[tuple[int, str]]) -> None:
    frames = tuple(str(f) for f in t.get("stack") or () if f is not None)
    locks: list[LockRef] = []
    for key, kind in (("blockedOn", WAITING_TO_LOCK), ("waitingOn", WAITING_ON)):
        if isinstance(t.get(key), str):
            locks.append(_lock(kind, t[key], 0))
    blocker = t.get("parkBlocker")
    if isinstance(blocker, dict) and isinstance(blocker.get("object"), str):
        locks.append(_lock(PARKING, blocker["object"], 0))
        owner = _int(blocker.get("owner") or blocker.get("exclusiveOwnerThreadId"))
        if owner is not None:
            owners.append((owner, blocker["object"]))
    for m in _dicts(t.get("monitorsOwned")):
        depth = _int(m.get("depth"))
        for obj in m.get("locks") or ():
            if isinstance(obj, str):
                locks.append(_lock(LOCKED, obj, depth if depth is not None else -1))
    locks.sort(key=lambda lk: lk.frame)  # jstack's order: top frame first
    virtual = t.get("virtual")
    tid = _int(t.get("tid"))
    th = threads.add(tid, str(t.get("name") or ""), str(t.get("state") or UNKNOWN_STATE),
                     frames, tuple(locks), bool(virtual) if virtual is not None else None,
                     container)
    carrier = _int(t.get("carrier"))
    if carrier is not None and tid is not None and th.virtual:
        carriers[carrier] = tid


def parse_text_dump(text: str) -> ThreadDump:
    """The plain-text form: pid, time and version lines, then one block per thread:
    `#38 "name" virtual RUNNABLE 2026-...Z` (JDK 24+; JDK 21: `#38 "name" virtual`),
    frames (`    at x.y(Z.java:1)`; JDK 21: six spaces, no "at") and lock lines."""
    dump = ThreadDump(source=TEXT_SOURCE, trailer=False)
    threads = _Threads(dump)
    lines = text.split("\n")
    head = [ln.strip() for ln in lines[:4]]
    if head and head[0].isdigit():
        dump.pid = int(head[0])
        dump.timestamp = head[1] if len(head) > 1 else ""
        dump.jvm = head[2] if len(head) > 2 else ""
    skipped = 0
    current: tuple[int | None, str, str, bool] | None = None
    frames: list[str] = []
    locks: list[LockRef] = []

    def flush() -> None:
        if current is not None:
            tid, name, state, virtual = current
            threads.add(tid, name, state, tuple(frames), tuple(locks), virtual)
        frames.clear()
        locks.clear()

    for i, line in enumerate(lines):
        if line.startswith("#") and '"' in line:
            flush()
            current = _text_header(line)
            if current is None:
                skipped += 1
        elif line.startswith(" ") and current is not None:
            s = line.strip()
            if s.startswith("- ") and "<" in s:
                kind = s[2 : s.find("<")].strip()
                locks.append(_lock(kind, s[s.find("<") + 1 : s.rfind(">")], len(frames) - 1))
            elif s.startswith("at "):
                frames.append(s[3:])
            elif s:
                frames.append(s)  # JDK 21: the frame alone
        elif line.strip() and i >= 4:
            skipped += 1
    flush()
    if not dump.threads:
        dump.warnings.append("no threads found: not a JVM thread dump?")
    if skipped:
        dump.warnings.append(f"{skipped} unrecognized line(s) skipped")
    return dump


def _text_header(line: str) -> tuple[int | None, str, str, bool] | None:
    """`#38 "name" virtual RUNNABLE 2026-12-04T20:31:19.41Z` -> tid, name, state, virtual."""
    q1 = line.find('"')
    q2 = line.rfind('"')
    if q2 <= q1:
        return None
    words = line[q2 + 1 :].split()
    virtual = "virtual" in words
    state = next((w for w in words if w.isupper()), UNKNOWN_STATE)
    return _int(line[1:q1].strip()), line[q1 + 1 : q2], state, virtual


def _lock(kind: str, obj: str, frame: int) -> LockRef:
    """`java.lang.Object@2673c0ca` -> LockRef named by that identity string."""
    return LockRef(kind, obj, obj.rsplit("@", 1)[0], frame)


def _dicts(v: Any) -> list[dict[str, Any]]:
    return [x for x in v if isinstance(x, dict)] if isinstance(v, list) else []


def _int(v: Any) -> int | None:
    try:
        return int(v) if v is not None else None
    except (TypeError, ValueError):
        return None
