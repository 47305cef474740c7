"""JVM thread-dump rules. Pure functions of parsed dumps (successive dumps of one process).

Single-dump rules look at the last dump; THREAD_GROWTH, STUCK_THREAD and the
between-dumps CPU_HOT compare the first and the last. Rules that explain a thread
(a deadlock, a pool wait, a convoy, a leak) "claim" it, so IDENTICAL_STACK and
STUCK_THREAD do not report the same threads again under a vaguer name.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from operator import attrgetter

from collectors.analysis.findings import (
    Block,
    CodeBlock,
    Finding,
    Severity,
    TableBlock,
    TextBlock,
    fmt_int,
)
from collectors.analysis.jstack import (
    LOCKED,
    PARKING,
    RELOCK,
    WAITING_ON,
    WAITING_TO_LOCK,
    JavaStack,
    JavaThread,
    LockRef,
    ThreadDump,
)
from collectors.analysis.pools import executor_pool_id
from collectors.analysis.thresholds import ThreadDumpThresholds

_LIB_PREFIXES = ("java.", "javax.", "jdk.", "sun.", "com.sun.", "org.apache.http.",
                 "org.apache.commons.", "org.apache.hc.", "kotlin.", "scala.")
# A thread whose top frames hold one of these is waiting for work, not stuck on it.
_IDLE = ("ThreadPoolExecutor.getTask", "ForkJoinPool.awaitWork", "SelectorImpl.select",
         "EPoll.wait", "KQueue.poll", "Net.accept", "NioSocketImpl.accept",
         "socketAccept", "ServerSocketChannelImpl.accept", "ReferenceQueue.remove",
         "Reference.waitForReferencePendingList", "TimerThread.mainLoop",
         "SynchronousQueue", "LinkedBlockingQueue.take", "ArrayBlockingQueue.take",
         "DelayedWorkQueue.take", "LinkedTransferQueue", "CleanerImpl.run",
         "IdleConnectionEvictor", "ReferenceQueueThread.run", "ServerImpl$Dispatcher.run")


def top_frame(stack: JavaStack) -> str:
    return _short(stack.frames[0]) if stack.frames else "(no Java frames)"


def app_frame(stack: JavaStack) -> str:
    """The first frame outside the JDK and the usual libraries: where the code is."""
    for f in stack.frames:
        if not f.startswith(_LIB_PREFIXES):
            return _short(f)
    return top_frame(stack)


def _short(frame: str) -> str:
    """`java.lang.Thread.sleep(java.base@17.0.15/Native Method)` ->
    `java.lang.Thread.sleep(Native Method)`."""
    at = frame.find("@")
    slash = frame.find("/", at)
    if 0 < at < slash and frame.find("(") < at:
        return frame[: frame.find("(") + 1] + frame[slash + 1 :]
    return frame


def stack_block(stack: JavaStack, title: str, limit: int = 14) -> CodeBlock:
    lines = [f"at {_short(f)}" for f in stack.frames[:limit]]
    if len(stack.frames) > limit:
        lines.append(f"... {len(stack.frames) - limit} more frames")
    return CodeBlock(title=title, text="\n".join(lines) or "(no Java frames)")


_POOL_STATE = attrgetter("pool", "state")
_STATE = attrgetter("state")


def pools_table(threads: Iterable[JavaThread], rows: int) -> TableBlock:
    # Counted as (pool, state) pairs in C, then summed per pool: a pair first seen where
    # its pool or state was first seen keeps most_common()'s tie order (first seen first).
    pools: Counter[str] = Counter()
    states: dict[str, Counter[str]] = {}
    for (pool, state), k in Counter(map(_POOL_STATE, threads)).items():
        pools[pool] += k
        states.setdefault(pool, Counter())[state] = k
    return TableBlock(
        headers=["thread pool", "threads", "states"],
        rows=[[p, fmt_int(n), ", ".join(f"{s} {c}" for s, c in states[p].most_common())]
              for p, n in pools.most_common(rows)],
    )


def _q(name: str) -> str:
    return f'"{name}"'


def _key(t: JavaThread) -> tuple[str, int | None, int | None]:
    return (t.name, t.java_id, t.os_id)


def seconds_between(first: ThreadDump, last: ThreadDump) -> float | None:
    """Wall time between two dumps: the `elapsed=` of one thread present in both (ms
    precision, JDK 11+), else the dumps' timestamps (seconds)."""
    before = {_key(t): t.elapsed_s for t in first.threads if t.elapsed_s is not None}
    for t in last.threads:
        e0 = before.get(_key(t))
        if e0 is not None and t.elapsed_s is not None:
            return max(t.elapsed_s - e0, 0.0)
    try:
        a = datetime.strptime(first.timestamp, "%Y-%m-%d %H:%M:%S")
        b = datetime.strptime(last.timestamp, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None
    return max((b - a).total_seconds(), 0.0)


@dataclass(slots=True)
class _Ctx:
    dumps: list[ThreadDump]
    t: ThreadDumpThresholds
    claimed: set[int] = field(default_factory=set)  # id() of threads already explained
    _idle: dict[int, bool] = field(default_factory=dict)
    _has: dict[tuple[int, str], bool] = field(default_factory=dict)
    _groups: list[tuple[JavaStack, list[JavaThread]]] | None = None

    def has(self, stack: JavaStack, marker: str) -> bool:
        """stack.has(marker), memoized: thousands of threads share a handful of stacks."""
        k = (id(stack), marker)
        v = self._has.get(k)
        if v is None:
            v = self._has[k] = stack.has(marker)
        return v

    @property
    def last(self) -> ThreadDump:
        return self.dumps[-1]

    def idle(self, stack: JavaStack) -> bool:
        v = self._idle.get(id(stack))
        if v is None:
            head = stack.frames[:12]
            v = self._idle[id(stack)] = any(m in f for f in head for m in _IDLE)
        return v

    def groups(self) -> list[tuple[JavaStack, list[JavaThread]]]:
        """The last dump's threads by stack, computed once: per-stack tests run once."""
        if self._groups is None:
            self._groups = self.last.groups()
        return self._groups

    def claim(self, threads: Iterable[JavaThread]) -> None:
        self.claimed.update(map(id, threads))


def thread_findings(dumps: list[ThreadDump], t: ThreadDumpThresholds) -> list[Finding]:
    """All JVM rules over successive dumps of one process."""
    if not dumps:
        return []
    c = _Ctx(dumps, t)
    out: list[Finding] = []
    for rule in (deadlock_rule, evictor_rule, pool_exhausted_rule, convoy_rule,
                 executor_leak_rule):
        out += rule(c)
    explained = set(c.claimed)
    out += identical_stack_rule(c)
    if len(dumps) > 1:
        out += growth_rule(c)
        out += stuck_rule(c, explained)
    out += cpu_hot_rule(c)
    return out


# --- JVM_DEADLOCK ------------------------------------------------------------------------

@dataclass(slots=True, frozen=True)
class _Edge:
    thread: JavaThread
    address: str
    class_name: str
    ownable: bool  # a java.util.concurrent lock (ownable synchronizer), not a monitor
    holder: JavaThread


def _cycles(threads: list[JavaThread]) -> list[list[_Edge]]:
    """Cycles of the waits-for graph: thread -> the lock it waits to own -> that lock's
    owner (`- locked` lines, `Locked ownable synchronizers`). Every thread waits for at
    most one lock, so each node has one out-edge and a walk finds each cycle once: linear."""
    # Threads of one pool share one locks tuple (jstack._Builder.body): what a tuple
    # holds and waits for is worked out once, keyed by its id.
    held: dict[int, tuple[str, ...]] = {}
    waits: dict[int, LockRef | None] = {}
    owners: dict[str, JavaThread] = {}
    waiting: list[tuple[JavaThread, LockRef]] = []
    for th in threads:
        locks = th.locks
        if locks:
            k = id(locks)
            if k not in held:
                # what it waits to own: a monitor to enter (or re-enter after wait()), a
                # lock it is parked on; a wait() for notify() or a take() on a queue waits
                # for an event, not for an owner, and is no edge (see _convoy_wait)
                held[k], waits[k] = _held(locks), _convoy_wait(locks)
            for a in held[k]:
                owners.setdefault(a, th)
            lk = waits[k]
            if lk is not None:
                waiting.append((th, lk))
        for a in th.ownable:
            owners.setdefault(a, th)
    nxt: dict[int, _Edge] = {}
    for th, lk in waiting:
        holder = owners.get(lk.address)
        if holder is not None and holder is not th:
            nxt[id(th)] = _Edge(th, lk.address, lk.class_name, lk.kind == PARKING, holder)
    seen: dict[int, int] = {}  # id(thread) -> the walk that reached it first
    out: list[list[_Edge]] = []
    for walk, (th, _) in enumerate(waiting):  # a cycle's threads all wait
        path: list[_Edge] = []
        cur: JavaThread | None = th
        while cur is not None and id(cur) not in seen:
            seen[id(cur)] = walk
            e = nxt.get(id(cur))
            if e is None:
                break
            path.append(e)
            cur = e.holder
        if cur is not None and seen.get(id(cur)) == walk and id(cur) in nxt:
            i = next(k for k, e in enumerate(path) if e.thread is cur)
            out.append(path[i:])
    return out


def _what(ownable: bool, address: str, class_name: str) -> str:
    kind = "ownable synchronizer" if ownable else "monitor"
    return f"{kind} <{address}> (a {class_name})" if class_name else f"{kind} <{address}>"


def deadlock_rule(c: _Ctx) -> list[Finding]:
    """The JVM's own "Found one Java-level deadlock" reports, and the cycles of the lock
    graph it did not report (virtual threads, a detector that missed one, a dump without
    the section): one finding per deadlock, whoever found it."""
    threads = c.last.threads
    by_name = {th.name: th for th in threads} if c.last.deadlocks else {}
    found = _cycles(threads)
    reported = {frozenset(e.thread for e in dl.edges) for dl in c.last.deadlocks}
    out: list[Finding] = []
    for dl in c.last.deadlocks:
        if not dl.edges:
            continue
        rows = [[e.thread, _what("ownable synchronizer" in e.waits_for, e.address,
                                 e.class_name), e.held_by] for e in dl.edges]
        out.append(_deadlock_finding(
            c, [e.thread for e in dl.edges], [by_name[e.thread] for e in dl.edges
                                               if e.thread in by_name],
            rows, [e.address for e in dl.edges], [e.class_name for e in dl.edges], True))
    for cycle in found:
        names = [e.thread.name for e in cycle]
        if frozenset(names) in reported:
            continue
        rows = [[e.thread.name, _what(e.ownable, e.address, e.class_name), e.holder.name]
                for e in cycle]
        out.append(_deadlock_finding(c, names, [e.thread for e in cycle], rows,
                                     [e.address for e in cycle],
                                     [e.class_name for e in cycle], False))
    return out


def _deadlock_finding(c: _Ctx, names: list[str], involved: list[JavaThread],
                      rows: list[list[str]], locks: list[str], classes: list[str],
                      jvm_reported: bool) -> Finding:
    c.claim(involved)
    kinds = sorted(set(filter(None, classes)))
    who = " and ".join(map(_q, names)) if len(names) == 2 else ", ".join(map(_q, names))
    evidence: list[Block] = [TableBlock(headers=["thread", "waits for", "held by"], rows=rows)]
    evidence += [stack_block(th.stack, f'"{th.name}" ({th.state})', 10) for th in involved]
    title = f"Java-level deadlock of {len(names)} threads: {who} ({', '.join(kinds) or 'locks'})"
    if not jvm_reported:
        # a cut dump may have lost the JVM's report (jstack prints it at the end)
        title += ("; the JVM did not report it, the lock graph has the cycle"
                  if not c.last.truncated else
                  "; found in the lock graph (the dump is cut: the JVM's report may be lost)")
    return Finding(
        rule="JVM_DEADLOCK", severity=Severity.CRITICAL, subject=", ".join(names), title=title,
        hint="These threads wait for each other forever; the JVM never breaks it. "
             "Take the locks in one global order everywhere (see the frames), or use "
             "tryLock with a timeout. Capture the dump, then restart.",
        evidence=evidence,
        data={"threads": names, "locks": locks, "classes": classes,
              "jvm_reported": jvm_reported},
    )


# --- HTTPCLIENT_EVICTOR_LEAK ---------------------------------------------------------------

_EVICTOR_POOLS = frozenset(("Connection evictor", "idle-connection-evictor-N"))


def _evictors(c: _Ctx, d: ThreadDump) -> list[JavaThread]:
    """Threads of d named like an evictor or running one, in dump order. The stack test
    runs once per distinct stack; per thread it is two set lookups (a JavaStack hashes
    by identity)."""
    stacks = [st for st, _ in c.groups()] if d is c.last else {th.stack for th in d.threads}
    # the evictor's own loop (4.x `IdleConnectionEvictor$1.run`, 5.x a lambda), not
    # a request thread that is just starting one (`IdleConnectionEvictor.start`)
    running = {st for st in stacks if c.has(st, "IdleConnectionEvictor$1.run")
               or c.has(st, "IdleConnectionEvictor.lambda$")}
    return [th for th in d.threads if th.pool in _EVICTOR_POOLS or th.stack in running]


def _commonest_stack(threads: list[JavaThread]) -> JavaStack:
    """The stack most of `threads` share (stacks are shared objects: count by id)."""
    top = Counter(id(th.stack) for th in threads).most_common(1)[0][0]
    return next(th.stack for th in threads if id(th.stack) == top)


def evictor_rule(c: _Ctx) -> list[Finding]:
    t = c.t
    evictors = _evictors(c, c.last)
    n = len(evictors)
    if n < t.evictor_warning:
        return []
    c.claim(evictors)
    growth = ""
    data: dict[str, object] = {"threads": n}
    if len(c.dumps) > 1:
        before = len(_evictors(c, c.dumps[0]))
        secs = seconds_between(c.dumps[0], c.last)
        data.update(before=before, growth=n - before, seconds=secs)
        if n > before:
            rate = f", {fmt_int(round((n - before) * 60 / secs))}/min" if secs else ""
            growth = f", +{fmt_int(n - before)} since the first dump{rate}"
    biggest = _commonest_stack(evictors)
    return [Finding(
        rule="HTTPCLIENT_EVICTOR_LEAK",
        severity=Severity.CRITICAL if n >= t.evictor_critical else Severity.WARNING,
        subject="Connection evictor",
        title=f'{fmt_int(n)} HttpClient "Connection evictor" threads{growth}: '
              "a client is built per request and never closed",
        hint="HttpClientBuilder.evictExpiredConnections()/evictIdleConnections() starts one "
             "evictor thread per client, alive until close(). Build one client and share "
             "it (or close each one); the thread count drops back at once (incident 002).",
        evidence=[pools_table(evictors, t.max_rows), stack_block(biggest, "evictor stack")],
        data=data,
    )]


# --- HTTP_POOL_EXHAUSTED -------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _PoolLib:
    name: str
    package: str
    waiting: Callable[[_Ctx, JavaStack], bool]  # the stack waits in this pool
    hint: str


def _waits(th: JavaThread) -> bool:
    return th.state in ("WAITING", "TIMED_WAITING", "BLOCKED")


_POOL_LIBS = (
    _PoolLib(
        "commons-httpclient 3.1", "org.apache.commons.httpclient.",
        lambda c, st: c.has(st, "MultiThreadedHttpConnectionManager.doGetConnection"),
        "MultiThreadedHttpConnectionManager allows only 2 connections per host by default "
        "whatever maxTotalConnections says: call setDefaultMaxConnectionsPerHost (or "
        "setMaxConnectionsPerHost), and set a connection-manager timeout so requests fail "
        "fast instead of piling up threads (incident 003)."),
    _PoolLib(
        "HttpClient 4.x", "org.apache.http.",
        lambda c, st: c.has(st, "AbstractConnPool.getPoolEntryBlocking")
        or c.has(st, "leaseConnection"),
        "PoolingHttpClientConnectionManager defaults to 2 connections per route and 20 in "
        "total: raise setDefaultMaxPerRoute/setMaxTotal, set "
        "RequestConfig.setConnectionRequestTimeout, and close every response (a response "
        "never closed keeps its connection leased forever)."),
    _PoolLib(
        "HttpClient 5.x", "org.apache.hc.",
        lambda c, st: c.has(st, "hc.core5.pool.StrictConnPool")
        or c.has(st, "hc.core5.pool.LaxConnPool")
        or (c.has(st, "hc.client5.http.impl.io.PoolingHttpClientConnectionManager")
            and c.has(st, "BasicFuture.get")),
        "PoolingHttpClientConnectionManager (5.x) defaults to 5 connections per route and 25 "
        "in total: raise setDefaultMaxPerRoute/setMaxTotal (or ConnectionConfig), set a "
        "connection request timeout, and close every response."),
)
_POOL_WIDE = ("ConnectionPool", "ConditionObject", "StrictConnPool", "LaxConnPool")
_NOT_HOLDERS = ("IdleConnectionEvictor", "ReferenceQueueThread")


def _lock_word(lk: LockRef) -> str:
    """What a thread waits on, by name: HC 3.1 waits in a synchronized block on the pool
    object (a monitor); HC 4.x/5.x await a Condition of the pool's ReentrantLock (no
    monitor at all: calling it one sends the reader looking for a synchronized block)."""
    if lk.class_name.endswith("ConditionObject"):
        return "condition"
    if lk.kind == PARKING:
        return "lock" if _lock_like(lk.class_name) else "object"
    return "monitor"


def pool_exhausted_rule(c: _Ctx) -> list[Finding]:
    t = c.t
    out: list[Finding] = []
    for lib in _POOL_LIBS:
        groups: dict[str, list[JavaThread]] = {}
        for stack, members in c.groups():
            if not lib.waiting(c, stack):
                continue
            for th in members:
                if _waits(th):
                    lk = th.waits_for()
                    pool_wide = lk is not None and lk.class_name.endswith(_POOL_WIDE)
                    groups.setdefault(lk.address if lk and pool_wide else "", []).append(th)
        if not groups:
            continue
        waiting_ids = {id(th) for ths in groups.values() for th in ths}
        holders = [th for stack, members in c.groups()
                   if c.has(stack, lib.package) and not any(c.has(stack, m) for m in _NOT_HOLDERS)
                   for th in members if id(th) not in waiting_ids]
        for monitor, waiters in sorted(groups.items(), key=lambda kv: -len(kv[1])):
            n = len(waiters)
            if n < t.pool_waiters_warning:
                continue
            c.claim(waiters)
            lk = waiters[0].waits_for()
            where = (f"{_lock_word(lk)} <{monitor}>" if monitor and lk is not None
                     else "per-request futures")
            holder_rows = [[th.name, th.state, top_frame(th.stack), app_frame(th.stack)]
                           for th in holders[: t.max_rows]]
            evidence: list[Block] = [
                TableBlock(headers=["holds a connection", "state", "top frame", "app frame"],
                           rows=holder_rows or [["(none in the dump)", "", "", ""]]),
                pools_table(waiters, t.max_rows),
                stack_block(waiters[0].stack, f"waiting threads ({fmt_int(n)}), e.g. "
                                              f'"{waiters[0].name}"'),
            ]
            out.append(Finding(
                rule="HTTP_POOL_EXHAUSTED",
                severity=Severity.CRITICAL if n >= t.pool_waiters_critical else Severity.WARNING,
                subject=f"{lib.name} {where}",
                title=f"{fmt_int(n)} threads wait for a connection from one {lib.name} pool "
                      f"({where}); {fmt_int(len(holders))} thread(s) hold its connections",
                hint=lib.hint,
                evidence=evidence,
                data={"library": lib.name, "waiters": n, "holders": len(holders),
                      "monitor": monitor, "monitor_class": lk.class_name if lk else "",
                      "holder_threads": [th.name for th in holders[:50]]},
            ))
    return out


# --- LOCK_CONVOY ---------------------------------------------------------------------------

def _lock_like(cls: str) -> bool:
    """A parked thread waits on a lock (not on a queue or condition) when the blocker is
    a lock's Sync object: ReentrantLock$NonfairSync, ReentrantReadWriteLock$FairSync..."""
    return cls.endswith("Sync") and ("Lock" in cls or "Semaphore" in cls)


def _convoy_wait(locks: tuple[LockRef, ...]) -> LockRef | None:
    """The lock a thread with these lock lines queues for in a convoy, if any: a monitor
    it waits to enter (or re-enter), or a lock-like object it is parked on."""
    for lk in locks:  # JavaThread.waits_for()
        if lk.kind in (WAITING_TO_LOCK, PARKING, WAITING_ON, RELOCK):
            break
    else:
        return None
    if not lk.address:
        return None
    if lk.kind in (WAITING_TO_LOCK, RELOCK) or (
            lk.kind == PARKING and _lock_like(lk.class_name)):
        return lk
    return None


def _held(locks: tuple[LockRef, ...]) -> tuple[str, ...]:
    """Addresses of the monitors a thread with these lock lines holds: locked, and not
    given up by a wait() on the same object."""
    released = {lk.address for lk in locks if lk.kind in (WAITING_ON, WAITING_TO_LOCK)}
    return tuple(lk.address for lk in locks if lk.kind == LOCKED and lk.address not in released)


def convoy_rule(c: _Ctx) -> list[Finding]:
    t = c.t
    waiting: dict[str, list[JavaThread]] = {}
    cls_of: dict[str, str] = {}
    # Threads with the same lock lines share one locks tuple (see jstack._Builder.body):
    # what a tuple waits for or holds is worked out once, keyed by its id (the tuples
    # live as long as the dump, so the ids stay unique).
    waits: dict[int, LockRef | None] = {}
    claimed = c.claimed
    for th in c.last.threads:
        locks = th.locks
        if not locks or id(th) in claimed:
            continue
        k = id(locks)
        if k in waits:
            lk = waits[k]
        else:
            lk = waits[k] = _convoy_wait(locks)
        if lk is not None:
            waiting.setdefault(lk.address, []).append(th)
            cls_of[lk.address] = lk.class_name
    hot = {a for a, ws in waiting.items() if len(ws) >= t.convoy_warning}
    if not hot:
        return []
    owners: dict[str, JavaThread] = {}
    holds: dict[int, tuple[str, ...]] = {}
    for th in c.last.threads:
        if not th.locks and not th.ownable:
            continue
        k = id(th.locks)
        if k not in holds:
            holds[k] = tuple(a for a in _held(th.locks) if a in hot)
        for a in holds[k]:
            owners.setdefault(a, th)
        for a in th.ownable:
            if a in hot:
                owners.setdefault(a, th)
        if len(owners) == len(hot):
            break  # the first owner found is kept: nothing left to find
    out: list[Finding] = []
    for addr in sorted(hot, key=lambda a: -len(waiting[a])):
        ws = waiting[addr]
        n = len(ws)
        c.claim(ws)
        owner = owners.get(addr)
        what = f"<{addr}> (a {cls_of[addr]})"
        if owner is not None:
            c.claim([owner])
            held = f'held by "{owner.name}" ({owner.state} {owner.detail}'.rstrip() + ")"
        elif ws[0].waits_for() and ws[0].waits_for().kind == PARKING:  # type: ignore[union-attr]
            held = "owner unknown (take the dump with -l to list ownable synchronizers)"
        else:
            held = "owner not in the dump"
        where = Counter(app_frame(th.stack) for th in ws)
        evidence: list[Block] = []
        if owner is not None:
            evidence.append(stack_block(owner.stack, f'owner "{owner.name}" ({owner.state})'))
        evidence += [
            TableBlock(headers=["blocked at", "threads"],
                       rows=[[f, fmt_int(k)] for f, k in where.most_common(t.max_rows)]),
            pools_table(ws, t.max_rows),
        ]
        out.append(Finding(
            rule="LOCK_CONVOY",
            severity=Severity.CRITICAL if n >= t.convoy_critical else Severity.WARNING,
            subject=addr,
            title=f"{fmt_int(n)} threads blocked on {what} {held}",
            hint="One thread keeps the lock while it sleeps, waits or does I/O and everyone "
                 "queues behind it. Read the owner's stack: move slow work out of the "
                 "synchronized block / lock, or bound it with a timeout.",
            evidence=evidence,
            data={"address": addr, "class": cls_of[addr], "blocked": n,
                  "owner": owner.name if owner else None,
                  "owner_state": owner.state if owner else None},
        ))
    return out


# --- EXECUTOR_LEAK -------------------------------------------------------------------------

def _executor_ids(d: ThreadDump) -> dict[int, list[JavaThread]]:
    ids: dict[int, list[JavaThread]] = {}
    for th in d.threads:
        if th.pool == "pool-N-thread-N":
            n = executor_pool_id(th.name)
            if n is not None:
                ids.setdefault(n, []).append(th)
    return ids


def executor_leak_rule(c: _Ctx) -> list[Finding]:
    t = c.t
    ids = _executor_ids(c.last)
    n = len(ids)
    new = 0
    secs = None
    if len(c.dumps) > 1:
        new = len(ids.keys() - _executor_ids(c.dumps[0]).keys())
        secs = seconds_between(c.dumps[0], c.last)
    if n < t.executor_pools_warning and (len(c.dumps) < 2 or new < t.executor_pools_growth):
        return []
    threads = [th for ths in ids.values() for th in ths]
    c.claim(threads)
    growth = f", +{fmt_int(new)} new pools in {secs:.1f} s" if new and secs else (
        f", +{fmt_int(new)} new pools" if new else "")
    biggest = _commonest_stack(threads)
    return [Finding(
        rule="EXECUTOR_LEAK",
        severity=Severity.CRITICAL if n >= t.executor_pools_critical else Severity.WARNING,
        subject="pool-N-thread-N",
        title=f"{fmt_int(n)} thread pools alive (pool-{min(ids)} … pool-{max(ids)}, "
              f"{fmt_int(len(threads))} threads){growth}: executors created and never shut down",
        hint="An Executors.newFixedThreadPool/newCachedThreadPool or new ThreadPoolExecutor "
             "per call, never shutdown(): each keeps its threads. Share one executor (or "
             "shutdown() it in finally), bound its size, and name its threads with a "
             "ThreadFactory so the owner shows in dumps (incident 001).",
        evidence=[pools_table(threads, t.max_rows),
                  TableBlock(headers=["sample threads"],
                             rows=[[th.name] for th in threads[: t.max_rows]]),
                  stack_block(biggest, "their commonest stack")],
        data={"pools": n, "threads": len(threads), "lowest": min(ids), "highest": max(ids),
              "new_pools": new, "seconds": secs},
    )]


# --- IDENTICAL_STACK -----------------------------------------------------------------------

_MAX_CYCLE = 4  # recursion through up to this many methods (a -> b -> c -> d -> a) folds


def _fold_recursion(frames: tuple[str, ...]) -> tuple[str, ...]:
    """The frames with each run of a repeated block (a recursive call, direct or through
    up to _MAX_CYCLE methods) kept once: one recursive code path caught at 20 or at 27
    levels deep is one place, not two. Linear in the frames (times _MAX_CYCLE**2)."""
    out: list[str] = []
    i, n = 0, len(frames)
    while i < n:
        for k in range(1, _MAX_CYCLE + 1):
            if i + 2 * k <= n and frames[i : i + k] == frames[i + k : i + 2 * k]:
                block = frames[i : i + k]
                i += k
                while i + k <= n and frames[i : i + k] == block:
                    i += k
                out.extend(block)
                break
        else:
            out.append(frames[i])
            i += 1
    return tuple(out)


_SHOWN = 5  # IDENTICAL_STACK findings at most; the rest are counted in the last one


def identical_stack_rule(c: _Ctx) -> list[Finding]:
    t = c.t
    claimed = c.claimed
    # Stacks that differ only in how deep a recursion was when the dump caught them are
    # one group: folded by _fold_recursion, once per distinct stack.
    piles: dict[tuple[str, ...], list[tuple[JavaStack, list[JavaThread]]]] = {}
    for stack, threads in c.groups():
        if not stack.frames or c.idle(stack):
            continue
        free = [th for th in threads if id(th) not in claimed]
        if free:
            piles.setdefault(_fold_recursion(stack.frames), []).append((stack, free))
    big = [p for p in piles.values() if sum(len(f) for _, f in p) >= t.identical_stack_min]
    big.sort(key=lambda p: -sum(len(f) for _, f in p))
    out: list[Finding] = []
    for i, pile in enumerate(big[:_SHOWN]):
        stack, _ = max(pile, key=lambda sf: len(sf[1]))  # the commonest depth shows
        free = [th for _, f in pile for th in f]
        states = Counter(map(_STATE, free)).most_common()
        n = len(free)
        depths = (f"; {len(pile)} stacks that differ only in recursion depth, folded"
                  if len(pile) > 1 else "")
        evidence: list[Block] = [
            stack_block(stack, f"{fmt_int(n)} threads, e.g. \"{free[0].name}\""),
            pools_table(free, t.max_rows)]
        rest = len(big) - _SHOWN
        if i == _SHOWN - 1 and rest > 0:
            evidence.append(TextBlock(text=f"{rest} more group(s) of at least "
                                           f"{t.identical_stack_min} threads not shown"))
        out.append(Finding(
            rule="IDENTICAL_STACK", severity=Severity.WARNING, subject=stack.digest,
            title=f"{fmt_int(n)} threads share one stack at {app_frame(stack)} "
                  f"({states[0][0]} in {top_frame(stack)}){depths}",
            hint="Many threads in the same place usually wait for the same thing: a slow "
                 "backend, a lock or a pool. Read the top frames; a second dump shows "
                 "whether they move.",
            evidence=evidence,
            data={"threads": n, "states": dict(states), "key": stack.digest,
                  "app_frame": app_frame(stack), "top_frame": top_frame(stack),
                  "variants": len(pile), "not_shown": max(len(big) - _SHOWN, 0)},
        ))
    return out


# --- THREAD_GROWTH -------------------------------------------------------------------------

def growth_rule(c: _Ctx) -> list[Finding]:
    t = c.t
    first, last = c.dumps[0], c.last
    before, after = len(first.threads), len(last.threads)
    delta = after - before
    if delta < t.growth_min_threads or delta < t.growth_fraction * before:
        return []
    secs = seconds_between(first, last)
    p0 = Counter(th.pool for th in first.threads)
    p1 = Counter(th.pool for th in last.threads)
    deltas = sorted(((p1[p] - p0[p], p) for p in p1.keys() | p0.keys()), reverse=True)
    top = [(d, p) for d, p in deltas if d > 0][: t.max_rows]
    rate = f" in {secs:.1f} s ({fmt_int(round(delta * 60 / secs))}/min)" if secs else ""
    most = ", ".join(f'"{p}" +{fmt_int(d)}' for d, p in top[:3])
    return [Finding(
        rule="THREAD_GROWTH",
        severity=Severity.CRITICAL if delta >= t.growth_critical_threads else Severity.WARNING,
        subject=top[0][1] if top else "",
        title=f"threads grew {fmt_int(before)} → {fmt_int(after)} (+{fmt_int(delta)}){rate}; "
              f"most: {most}",
        hint="A thread count that keeps climbing ends at a ceiling (ulimit -u, pids.max, "
             "threads-max) where the JVM and its neighbours fail to fork. The growing pool "
             "names say which code creates them.",
        evidence=[TableBlock(headers=["thread pool", "before", "after", "delta"],
                             rows=[[p, fmt_int(p0[p]), fmt_int(p1[p]), f"+{fmt_int(d)}"]
                                   for d, p in top])],
        data={"before": before, "after": after, "delta": delta, "seconds": secs,
              "per_minute": round(delta * 60 / secs) if secs else None,
              "pools": {p: d for d, p in top}},
    )]


# --- STUCK_THREAD --------------------------------------------------------------------------

def _worked(cpu_before: float | None, cpu_after: float | None, secs: float) -> bool:
    """Its CPU time grew between the dumps: a thread caught twice at the same
    spot of a job it keeps repeating (a timer's request every 100 ms) moved on
    in between. A stuck one (a read without timeout, a lock) burns nothing."""
    if cpu_before is None or cpu_after is None:
        return False
    return cpu_after - cpu_before > max(5.0, secs * 1000 * 0.001)


def stuck_rule(c: _Ctx, explained: set[int]) -> list[Finding]:
    t = c.t
    secs = seconds_between(c.dumps[0], c.last)
    if secs is None or secs < t.stuck_min_seconds:
        return []
    earlier = [{_key(th): th.stack.frames for th in d.threads} for d in c.dumps[:-1]]
    first_cpu = {_key(th): th.cpu_ms for th in c.dumps[0].threads}
    stuck: list[JavaThread] = []
    for th in c.last.threads:
        st = th.stack
        if (not st.frames or id(th) in explained or c.idle(st) or th.detail == "(sleeping)"
                or th.state == "(vm)"):
            continue
        k = _key(th)
        if all(e.get(k) == st.frames for e in earlier) and not _worked(
                first_cpu.get(k), th.cpu_ms, secs):
            stuck.append(th)
    if not stuck:
        return []
    by_stack: dict[int, list[JavaThread]] = {}
    for th in stuck:
        by_stack.setdefault(id(th.stack), []).append(th)
    groups = sorted(by_stack.values(), key=len, reverse=True)
    head = groups[0][0]
    n = len(stuck)
    return [Finding(
        rule="STUCK_THREAD", severity=Severity.WARNING, subject=head.name,
        title=f"{fmt_int(n)} thread(s) did not move in {secs:.1f} s across {len(c.dumps)} "
              f'dumps: "{head.name}" at {app_frame(head.stack)} ({head.state} in '
              f"{top_frame(head.stack)})",
        hint="The same stack in every dump means no progress: a read without a timeout, a "
             "lock never released, an endless loop. Read the top frames; add timeouts.",
        evidence=[TableBlock(
            headers=["threads", "state", "app frame", "top frame", "e.g."],
            rows=[[fmt_int(len(g)), g[0].state, app_frame(g[0].stack), top_frame(g[0].stack),
                   g[0].name] for g in groups[: t.max_rows]]),
            stack_block(head.stack, f'"{head.name}"')],
        data={"threads": n, "seconds": secs, "dumps": len(c.dumps),
              "names": [th.name for th in stuck[:50]]},
    )]


# --- CPU_HOT -------------------------------------------------------------------------------

def _cpu_rule(t: ThreadDumpThresholds) -> str:
    return (f"at least {t.cpu_hot_fraction:.0%} of one core and {fmt_int(round(t.cpu_hot_min_ms))}"
            f" ms of CPU, between the dumps, or over its life for a thread seen in one dump "
            f"once it is {t.cpu_hot_lifetime_min_s:g} s old")


def cpu_hot_rule(c: _Ctx) -> list[Finding]:
    """A thread's CPU time over a wall time: between the first and the last dump when it
    is in both, else over its own life (cpu= / elapsed=, JDK 11+) once that life is long
    enough to mean something (a few seconds: a thread started 7 s ago that used 6.3 s of
    CPU is hot, whatever a minute-long bar would say)."""
    t = c.t
    hot: list[tuple[float, float, float, str, JavaThread]] = []  # share, ms, s, over, thread
    before: dict[tuple[str, int | None, int | None], JavaThread] = {}
    if len(c.dumps) > 1:
        before = {_key(th): th for th in c.dumps[0].threads if th.cpu_ms is not None}
    for th in c.last.threads:
        if th.cpu_ms is None or not th.elapsed_s:
            continue
        b = before.get(_key(th))
        if b is not None and b.elapsed_s is not None:
            wall, cpu, over = th.elapsed_s - b.elapsed_s, th.cpu_ms - (b.cpu_ms or 0.0), "dumps"
        elif th.elapsed_s >= t.cpu_hot_lifetime_min_s:
            wall, cpu, over = th.elapsed_s, th.cpu_ms, "lifetime"
        else:
            continue
        if wall > 0 and cpu >= t.cpu_hot_min_ms and cpu / (wall * 1000) >= t.cpu_hot_fraction:
            hot.append((cpu / (wall * 1000), cpu, wall, over, th))
    if not hot:
        return []
    hot.sort(key=lambda h: -h[0])
    _, cpu, wall, over, th = hot[0]
    names = ", ".join(f'"{h[4].name}" {h[0]:.0%}' for h in hot[:3])
    span = "between the dumps" if over == "dumps" else "since the thread started"
    rule = _cpu_rule(t)
    return [Finding(
        rule="CPU_HOT", severity=Severity.WARNING, subject=th.name,
        title=f"{fmt_int(len(hot))} thread(s) burn a CPU core {span}: {names} "
              f"({fmt_int(round(cpu))} ms CPU in {wall:.1f} s)",
        hint="A thread at ~100% of a core loops: a busy-wait, a regex or a collection gone "
             "quadratic, GC pressure on a GC thread. Its top frames show where. "
             f"Rule: {rule}.",
        evidence=[TableBlock(
            headers=["thread", "cpu ms", "seconds", "of a core", "measured", "state",
                     "top frame"],
            rows=[[h[4].name, fmt_int(round(h[1])), f"{h[2]:.1f}", f"{h[0]:.0%}",
                   "between dumps" if h[3] == "dumps" else "over its life", h[4].state,
                   top_frame(h[4].stack)] for h in hot[: t.max_rows]]),
            stack_block(th.stack, f'"{th.name}"')],
        data={"threads": [{"name": h[4].name, "cpu_ms": round(h[1], 1), "share": round(h[0], 3),
                           "seconds": round(h[2], 3), "over": h[3]} for h in hot[:50]],
              "span": "dumps" if len(c.dumps) > 1 else "lifetime", "rule": rule},
    )]
