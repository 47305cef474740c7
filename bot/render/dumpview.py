"""The thread-dump explorer's model of one parsed dump: stack groups biggest first,
pools, states, a server-side search, the lock graph and the flame tree.

Pure: built once from a parsed dump (collectors.analysis: jstack / goroutines,
never a parser of its own), then queried by the pages. Building it costs one
pass over the threads; a query costs a pass over the threads at most (100 000
goroutines: tens of ms), so it is built in a worker thread and kept in a cache
(bot/snapshots/dumps.py), and every page ships only a slice of it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from collectors.analysis.dumps import Dump
from collectors.analysis.goroutines import Goroutine, GoroutineDump, GoStack
from collectors.analysis.jstack import (
    LOCKED,
    PARKING,
    RELOCK,
    WAITING_ON,
    WAITING_TO_LOCK,
    JavaThread,
    LockRef,
    ThreadDump,
)

#: rows of a group's member list or of search results per page
PAGE = 100


@dataclass(frozen=True, slots=True)
class Member:
    """One thread or goroutine as a row."""

    name: str
    state: str
    pool: str
    detail: str = ""
    locks: tuple[str, ...] = ()  # "waiting to lock <0x..> (a java.lang.Object)"


@dataclass(slots=True, eq=False)
class Group:
    """Threads with one stack (Go: one state and one stack)."""

    rank: int  # 1-based, biggest first: the group's address in URLs
    key: str
    count: int
    states: dict[str, int]
    pools: dict[str, int]  # top 5 pools (Go: creators)
    frames: tuple[str, ...]
    files: tuple[str, ...] = ()  # Go: file:line per frame
    members: list[Any] = field(default_factory=list)  # JavaThread | Goroutine (none: debug=1)
    max_minutes: int = 0  # Go: the longest wait in the group
    text: str = ""  # lowercased frames, for the search

    @property
    def state(self) -> str:
        return max(self.states, key=lambda k: self.states[k]) if self.states else ""

    @property
    def top(self) -> str:
        return short_frame(self.frames[0]) if self.frames else "(no frames)"


@dataclass(frozen=True, slots=True)
class Page:
    rows: list[tuple[Group, Member]]
    total: int  # matches in all pages
    page: int
    pages: int


@dataclass(slots=True)
class LockNode:
    """A lock someone waits to own, who holds it and who queues for it."""

    address: str
    class_name: str
    owner: str | None  # thread name; None when unknown
    owner_state: str = ""
    owner_waits_for: str = ""  # the address of the lock the owner itself waits for
    waiters: int = 0
    by_pool: list[tuple[str, int]] = field(default_factory=list)  # biggest first
    deadlocked: bool = False


@dataclass(slots=True)
class FlameNode:
    name: str
    count: int = 0
    children: dict[str, FlameNode] = field(default_factory=dict)


@dataclass(slots=True, eq=False)
class DumpModel:
    kind: str  # jvm / go
    title: str  # "jstack, OpenJDK ... 2026-12-04 10:00:00", "goroutines debug=2"
    total: int
    states: dict[str, int]
    pools: dict[str, int]
    groups: list[Group]
    warnings: list[str]
    locks: list[LockNode]
    flame: FlameNode
    summary: dict[str, Any]  # summary(top=100): what diff_*_dumps compares
    searchable: bool = True  # debug=1 has no per-goroutine rows
    #: pool (Go: creator) -> state -> count
    pool_states: dict[str, dict[str, int]] = field(default_factory=dict)

    def group(self, rank: int) -> Group | None:
        return self.groups[rank - 1] if 1 <= rank <= len(self.groups) else None

    def filtered(self, state: str = "") -> list[Group]:
        """Groups with threads in `state` (all groups when empty), biggest there first."""
        if not state:
            return self.groups
        return sorted((g for g in self.groups if g.states.get(state)),
                      key=lambda g: -g.states[state])

    def members(self, g: Group, page: int = 1, state: str = "") -> Page:
        rows = [(g, m) for m in g.members if not state or self._state(m) == state]
        return _page(rows, page)

    def search(self, q: str, state: str = "", page: int = 1) -> Page:
        """Threads whose name, frames or locks contain `q` (case-insensitive), in
        `state` when given, group by group."""
        ql = q.strip().lower()
        out: list[tuple[Group, Member]] = []
        for g in self.filtered(state):
            frame_hit = bool(ql) and ql in g.text
            for t in g.members:
                if state and self._state(t) != state:
                    continue
                if frame_hit or not ql or self._hit(t, ql):
                    out.append((g, t))
        return _page(out, page)

    def row(self, t: Any) -> Member:
        return java_member(t) if isinstance(t, JavaThread) else go_member(t)

    @staticmethod
    def _state(t: Any) -> str:
        return str(t.state)

    @staticmethod
    def _hit(t: Any, ql: str) -> bool:
        if isinstance(t, JavaThread):
            return (ql in t.name.lower() or any(ql in lk.address for lk in t.locks)
                    or any(ql in a for a in t.ownable))
        g: Goroutine = t
        return ql in f"goroutine {g.id}" or (bool(g.wait_addr) and ql in g.wait_addr)


def _page(rows: list[tuple[Group, Any]], page: int) -> Page:
    pages = max(1, -(-len(rows) // PAGE))
    page = min(max(1, page), pages)
    return Page(rows=rows[(page - 1) * PAGE : page * PAGE], total=len(rows), page=page,
                pages=pages)


# --- frames -------------------------------------------------------------------------------

def short_frame(frame: str) -> str:
    """`java.lang.Thread.sleep(java.base@17.0.15/Native Method)` -> `Thread.sleep`;
    `sync.(*Mutex).lockSlow` stays."""
    jvm = frame.endswith(")") and "(" in frame  # Go's functions come without arguments
    head = frame[: frame.rfind("(")] if jvm else frame
    if not jvm and "/" in head:  # Go: github.com/x/y.(*T).f
        head = head.rsplit("/", 1)[1]
    parts = head.split(".")
    return ".".join(parts[-2:]) if len(parts) > 2 and "(" not in head else head


def java_member(t: JavaThread) -> Member:
    locks = tuple(f"{lk.kind} <{lk.address}> (a {lk.class_name})" if lk.address
                  else lk.kind for lk in t.locks)
    locks += tuple(f"owns <{a}> (ownable synchronizer)" for a in t.ownable)
    return Member(name=t.name, state=t.state, pool=t.pool, detail=t.detail, locks=locks)


def go_member(g: Goroutine) -> Member:
    bits = [f"{g.minutes} minutes" if g.minutes else "", "locked to thread" if g.locked else ""]
    return Member(name=f"goroutine {g.id}", state=g.state, pool=g.stack.created_by or "(root)",
                  detail=", ".join(b for b in bits if b),
                  locks=(f"waits for mutex <{g.wait_addr}>",) if g.wait_addr else ())


# --- building -----------------------------------------------------------------------------

def build(dump: Dump) -> DumpModel:
    return _build_jvm(dump) if isinstance(dump, ThreadDump) else _build_go(dump)


def _build_jvm(d: ThreadDump) -> DumpModel:
    groups: list[Group] = []
    # threads without Java frames (GC, compiler, VM threads) go last: nothing to read there
    ordered = sorted(d.groups(), key=lambda g: not g[0].frames)
    for rank, (stack, members) in enumerate(ordered, 1):
        states = Counter(t.state for t in members)
        pools = Counter(t.pool for t in members)
        groups.append(Group(rank=rank, key=stack.digest, count=len(members),
                            states=dict(states.most_common()), pools=dict(pools.most_common(5)),
                            frames=stack.frames, members=members,
                            text="\n".join(stack.frames).lower()))
    summary = d.summary(top=100, max_pools=10_000)
    title = " ".join(x for x in (d.source, d.jvm, d.timestamp) if x)
    return DumpModel(kind="jvm", title=title, total=len(d.threads),
                     states=dict(summary["states"]), pools=dict(summary["pools"]),
                     groups=groups, warnings=list(d.warnings), locks=java_locks(d),
                     flame=flame([(g.frames, g.count) for g in groups]), summary=summary,
                     pool_states=_pool_states(groups))


def _pool_states(groups: list[Group]) -> dict[str, dict[str, int]]:
    """States per pool, from the groups (a JVM group knows its threads' pools)."""
    out: dict[str, Counter[str]] = {}
    for g in groups:
        if g.members and isinstance(g.members[0], JavaThread):
            for t in g.members:
                out.setdefault(t.pool, Counter())[t.state] += 1
        else:  # Go: one state per group; its creator
            for pool, n in g.pools.items():
                out.setdefault(pool, Counter())[g.state or "(unknown)"] += n
    return {p: dict(c.most_common()) for p, c in out.items()}


def _build_go(d: GoroutineDump) -> DumpModel:
    groups: list[Group] = []
    if d.format == "debug=1":
        for rank, rec in enumerate(d.groups(), 1):
            groups.append(_go_group(rank, rec.state, rec.stack, rec.count, [], rec.max_minutes))
    else:
        by: dict[tuple[str, int], list[Goroutine]] = {}
        for g in d.goroutines:
            by.setdefault((g.state, id(g.stack)), []).append(g)
        ordered = sorted(by.values(), key=lambda ms: -len(ms))
        for rank, ms in enumerate(ordered, 1):
            groups.append(_go_group(rank, ms[0].state, ms[0].stack, len(ms), ms,
                                    max(m.minutes for m in ms)))
    summary = d.summary(top=100, max_pools=10_000)
    states: Counter[str] = Counter()
    for gr in groups:
        states[gr.state or "(unknown)"] += gr.count
    return DumpModel(kind="go", title=f"goroutines {d.format}" + (
        f", taken {d.taken_at}" if d.taken_at else ""), total=d.total,
        states=dict(states.most_common()), pools=dict(summary["pools"]), groups=groups,
        warnings=list(d.warnings) + ([d.panic] if d.panic else []), locks=go_locks(d),
        flame=flame([(g.frames, g.count) for g in groups]), summary=summary,
        searchable=d.format != "debug=1", pool_states=_pool_states(groups))


def _go_group(rank: int, state: str, stack: GoStack, count: int, members: list[Goroutine],
              minutes: int) -> Group:
    return Group(rank=rank, key=stack.digest, count=count, states={state or "(unknown)": count},
                 pools={stack.created_by or "(root)": count}, frames=stack.funcs,
                 files=stack.files, members=members, max_minutes=minutes,
                 text="\n".join(stack.funcs + stack.files).lower())


# --- the lock graph -----------------------------------------------------------------------

def _waits_to_own(locks: tuple[LockRef, ...]) -> LockRef | None:
    """The lock a thread queues to own: a monitor to enter or re-enter, or a lock's
    Sync it is parked on (a wait() for notify() or a queue's take() waits for an
    event, not for an owner: threadrules' convoy rule reads it the same way)."""
    for lk in locks:
        if lk.kind in (WAITING_TO_LOCK, PARKING, WAITING_ON, RELOCK):
            if not lk.address:
                return None
            if lk.kind in (WAITING_TO_LOCK, RELOCK):
                return lk
            if lk.kind == PARKING and lk.class_name.endswith("Sync") and (
                    "Lock" in lk.class_name or "Semaphore" in lk.class_name):
                return lk
            return None
    return None


def _held(locks: tuple[LockRef, ...]) -> Iterator[str]:
    released = {lk.address for lk in locks if lk.kind in (WAITING_ON, WAITING_TO_LOCK)}
    return (lk.address for lk in locks if lk.kind == LOCKED and lk.address not in released)


def java_locks(d: ThreadDump, top: int = 8) -> list[LockNode]:
    """Locks with queued threads, most waiters first: who holds, who waits, and
    whether the holders wait for each other in a cycle (a deadlock)."""
    waiting: dict[str, list[JavaThread]] = {}
    cls: dict[str, str] = {}
    owners: dict[str, JavaThread] = {}
    memo: dict[int, LockRef | None] = {}  # threads of one pool share one locks tuple
    for t in d.threads:
        if t.locks:
            k = id(t.locks)
            lk = memo[k] if k in memo else memo.setdefault(k, _waits_to_own(t.locks))
            if lk is not None:
                waiting.setdefault(lk.address, []).append(t)
                cls[lk.address] = lk.class_name
            for a in _held(t.locks):
                owners.setdefault(a, t)
        for a in t.ownable:
            owners.setdefault(a, t)
    nodes: dict[str, LockNode] = {}
    for addr, ws in waiting.items():
        owner = owners.get(addr)
        ow = _waits_to_own(owner.locks) if owner is not None else None
        # a pool with one waiter shows that thread's name (a deadlock's threads)
        pools = Counter(t.pool for t in ws)
        alone = {t.pool: t.name for t in ws if pools[t.pool] == 1}
        nodes[addr] = LockNode(address=addr, class_name=cls[addr],
                               owner=owner.name if owner else None,
                               owner_state=owner.state if owner else "",
                               owner_waits_for=ow.address if ow else "", waiters=len(ws),
                               by_pool=[(alone.get(p, p), c) for p, c in pools.most_common()])
    for n in nodes.values():  # a holder waiting, through holders, for its own lock
        seen, cur = {n.address}, nodes.get(n.owner_waits_for)
        while cur is not None and cur.address not in seen:
            seen.add(cur.address)
            cur = nodes.get(cur.owner_waits_for)
        n.deadlocked = cur is not None and cur.address == n.address
    ranked = sorted(nodes.values(), key=lambda n: (not n.deadlocked, -n.waiters, n.address))
    keep = [n for n in ranked if n.deadlocked or n.waiters >= 2 or n.owner][:top]
    return keep


def go_locks(d: GoroutineDump, top: int = 8) -> list[LockNode]:
    """Mutexes goroutines queue for (Go records no owner)."""
    waiting: dict[str, list[Goroutine]] = {}
    for g in d.goroutines:
        if g.wait_addr:
            waiting.setdefault(g.wait_addr, []).append(g)
    nodes = []
    for addr, ws in waiting.items():
        by = Counter(short_frame(_app_func(g.stack)) for g in ws)
        nodes.append(LockNode(address=addr, class_name="sync.Mutex", owner=None,
                              waiters=len(ws), by_pool=by.most_common()))
    return sorted(nodes, key=lambda n: -n.waiters)[:top]


def _app_func(s: GoStack) -> str:
    for f in s.funcs:
        if not f.startswith(("runtime.", "sync.", "internal/")):
            return f
    return s.funcs[0] if s.funcs else "?"


# --- the flame tree -----------------------------------------------------------------------

def flame(stacks: Sequence[tuple[Sequence[str], int]], max_depth: int = 48) -> FlameNode:
    """All stacks merged from the outermost frame in (the dump prints the innermost
    first), weighted by how many threads have each."""
    root = FlameNode("all")
    for frames, n in stacks:
        root.count += n
        node = root
        for f in list(reversed(frames))[:max_depth]:
            name = short_frame(f)
            child = node.children.get(name)
            if child is None:
                child = node.children[name] = FlameNode(name)
            child.count += n
            node = child
    return root



# --- what a page needs of a dump: small, picklable, JSON-able -------------------------------
# The parsed dump stays in the explorer's worker process (bot/snapshots/dumpworker.py);
# the web process gets these (a few hundred KB at most, never the threads).

#: stack groups and pools a page lists (the rest are reached by the search)
TOP_GROUPS = 100
TOP_POOLS = 40
#: the PageView's shape and grouping: bump when either changes, and the views kept in
#: the database (bot.store: dump_views) are computed again
VIEW_VERSION = "1"


@dataclass(frozen=True, slots=True)
class GroupHead:
    """A stack group as its collapsed summary shows it (no threads)."""

    rank: int
    key: str
    count: int
    states: dict[str, int]
    pools: dict[str, int]
    top: str
    max_minutes: int = 0

    @property
    def state(self) -> str:
        return max(self.states, key=lambda k: self.states[k]) if self.states else ""


def head(g: Group) -> GroupHead:
    return GroupHead(rank=g.rank, key=g.key, count=g.count, states=g.states, pools=g.pools,
                     top=g.top, max_minutes=g.max_minutes)


@dataclass(frozen=True, slots=True)
class Rows:
    """A page of member rows (a group's, or search results), ready to show."""

    rows: list[tuple[GroupHead, Member]]
    total: int
    page: int
    pages: int


def rows_of(p: Page, row: Any) -> Rows:
    heads: dict[int, GroupHead] = {}
    out = [(heads.get(g.rank) or heads.setdefault(g.rank, head(g)), row(t)) for g, t in p.rows]
    return Rows(rows=out, total=p.total, page=p.page, pages=p.pages)


@dataclass(frozen=True, slots=True)
class GroupView:
    """An opened stack group: its frames and a page of its members."""

    kind: str
    searchable: bool
    head: GroupHead
    frames: tuple[str, ...]
    files: tuple[str, ...]
    rows: Rows
    redactions: int = 0  # in the dump's file


@dataclass(slots=True)
class PageView:
    """The explorer page of one dump file (its last dump), in one state filter."""

    name: str  # the raw file
    size: int
    redactions: int
    dumps: int  # dumps in the file (a SIGQUIT log may hold several)
    file_warnings: list[str]
    kind: str
    title: str
    total: int
    n_groups: int
    states: dict[str, int]
    searchable: bool
    warnings: list[str]
    state: str  # the filter `groups` are listed for ("" = all)
    groups: list[GroupHead]
    more_groups: int
    pools: list[tuple[str, int]]
    more_pools: int
    pool_states: dict[str, dict[str, int]]
    locks: list[LockNode]
    lock_svg: str
    flame_svg: str
    summary: dict[str, Any]  # what diff_*_dumps compares
    prev_summary: dict[str, Any] | None  # the file's previous dump, if any

    def to_json(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__slots__}
        d["groups"] = [{k: getattr(g, k) for k in GroupHead.__slots__} for g in self.groups]
        d["locks"] = [{k: getattr(n, k) for k in LockNode.__slots__} for n in self.locks]
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> PageView:
        d = dict(d)
        d["groups"] = [GroupHead(**g) for g in d["groups"]]
        d["locks"] = [LockNode(**{**n, "by_pool": [tuple(p) for p in n["by_pool"]]})
                      for n in d["locks"]]
        d["pools"] = [tuple(p) for p in d["pools"]]
        return cls(**d)
