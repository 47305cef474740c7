"""Go goroutine-dump rules: GO_MUTEX_PILEUP, GO_GOROUTINE_LEAK, IDENTICAL_STACK and,
across dumps, THREAD_GROWTH (of goroutines). Pure functions of parsed dumps.

Several dumps are first put in order and sorted out (go_findings):
- order: by the log timestamps they carry when all carry one, else by their highest
  goroutine id when all are debug=2 (ids only grow in a process), else as given;
- a debug=1 and a debug=2 of one moment (same stacks, same counts) are one dump: states,
  minutes and mutex addresses come from the debug=2, which is what the rules read;
- dumps of different processes (another Go build: a function at another path or offset;
  goroutine ids that went back) are not mixed: a warning, and rules per process.

A leak needs time. Thousands of goroutines parked in `chan receive` right after start are a
worker pool, not a leak; GO_GOROUTINE_LEAK needs goroutines that waited
`leak_minutes` (debug=2's ", N minutes"), or a group that grew across dumps, or a wait that
can never end (nil channel, empty select). debug=1 carries no wait times: a single debug=1
can only show a *possible* leak (severity info) that says so, so that the pile is not
silently dropped and nobody is told a leak is proven.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from itertools import pairwise

from collectors.analysis.findings import Block, CodeBlock, Finding, Severity, TableBlock, fmt_int
from collectors.analysis.goroutines import (
    CHAN_OR_SELECT,
    MUTEX_STATES,
    GoGroup,
    GoroutineDump,
    GoStack,
    group_key,
)
from collectors.analysis.thresholds import GoroutineThresholds

_CHAN = frozenset({"chan send", "chan receive", "select", CHAN_OR_SELECT})
_FOREVER = frozenset({"chan send (nil chan)", "chan receive (nil chan)", "select (no cases)"})
_MUTEX_FRAMES = ("sync.(*Mutex).Lock", "sync.(*Mutex).lockSlow", "sync.(*RWMutex).Lock",
                 "sync.(*RWMutex).RLock")
_IDLE_STATES = frozenset({"IO wait", "running", "runnable", "syscall", "GC worker (idle)",
                          "force gc (idle)", "finalizer wait", "GC sweep wait",
                          "GC scavenge wait", "timer goroutine (idle)"})
_NO_ARGS = "unknown (debug=1 dumps carry no arguments)"


def app_func(stack: GoStack) -> str:
    """The first function outside the runtime and the standard sync/time packages."""
    for f in stack.funcs:
        if not f.startswith(("runtime.", "sync.", "time.", "internal/", "runtime/")):
            return f
    return stack.funcs[0] if stack.funcs else "(no frames)"


def go_stack_block(stack: GoStack, title: str, limit: int = 14) -> CodeBlock:
    lines = []
    for fn, file in zip(stack.funcs[:limit], stack.files[:limit], strict=False):
        lines += [fn, f"    {file}"]
    if stack.created_by:
        lines.append(f"created by {stack.created_by}")
    return CodeBlock(title=title, text="\n".join(lines) or "(no frames)")


def _is_mutex_group(g: GoGroup) -> bool:
    if g.state in MUTEX_STATES and g.state != "semacquire":
        return True
    # Go <= 1.19 says only "semacquire" (WaitGroup.Wait too): the frames tell a mutex.
    return g.state in ("semacquire", "") and any(f in _MUTEX_FRAMES for f in g.stack.funcs[:4])


def _minutes(m: int) -> str:
    return f"{fmt_int(m)} minutes" if m else "less than a minute (or no GC since)"


# --- several dumps: order, forms of one moment, processes --------------------------------

Key = tuple[str, ...]


class Moment:
    """One moment of one process: the dump the rules read (the debug=2 when both forms were
    given) and its groups, computed once."""

    __slots__ = ("_creators", "counts", "dump", "groups", "names")

    def __init__(self, dump: GoroutineDump, name: str) -> None:
        self.dump = dump
        self.names = [name] if name else []
        self.groups = dump.groups()
        self.counts: Counter[Key] = Counter()
        for g in self.groups:
            self.counts[g.stack.key] += g.count
        self._creators: dict[int, str] | None = None

    @property
    def creators(self) -> dict[int, str]:
        """goroutine id -> the function that started it (debug=2): fixed for a goroutine's
        life, and ids are never reused in a process."""
        if self._creators is None:
            self._creators = {g.id: g.stack.created_by for g in self.dump.goroutines
                              if g.stack.created_by}
        return self._creators

    @property
    def label(self) -> str:
        return " + ".join(self.names)


def _when(d: GoroutineDump) -> datetime | None:
    if not d.taken_at:
        return None
    try:
        t = datetime.fromisoformat(d.taken_at)
    except ValueError:
        return None
    return t if t.tzinfo else t.astimezone()


def _same_moment(a: Moment, b: Moment) -> bool:
    """A debug=1 and a debug=2 taken back to back: the same stacks in the same numbers."""
    if a.dump.format == b.dump.format or len(a.names) > 1 or len(b.names) > 1:
        return False
    ta, tb = _when(a.dump), _when(b.dump)
    if ta and tb and abs((ta - tb).total_seconds()) > 60:
        return False
    diff = sum(abs(a.counts[k] - b.counts[k]) for k in a.counts.keys() | b.counts.keys())
    return diff <= max(3, max(a.dump.total, b.dump.total) // 50)


def _build_marks(m: Moment) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """function -> the files it is in; `function file:line` -> offsets (debug=1 and debug=2
    print different offsets, so these compare only within one form)."""
    paths: dict[str, set[str]] = {}
    offsets: dict[str, set[str]] = {}
    for g in m.groups:
        for fn, file in zip(g.stack.funcs, g.stack.files, strict=False):
            loc, _, off = file.partition(" ")
            paths.setdefault(fn, set()).add(loc.rpartition(":")[0] or loc)
            if off.startswith("+0x"):
                offsets.setdefault(f"{fn} {loc}", set()).add(off)
    return paths, offsets


def _other_process(a: Moment, b: Moment) -> str:
    """Why a and b cannot be dumps of one process, or ""."""
    pa, oa = _build_marks(a)
    pb, ob = _build_marks(b)
    for fn in sorted(pa.keys() & pb.keys()):
        if not pa[fn] & pb[fn]:
            return (f"another Go build: {fn} is in {min(pa[fn])} in {a.label}, in "
                    f"{min(pb[fn])} in {b.label}")
    if a.dump.format == b.dump.format:
        for k in sorted(oa.keys() & ob.keys()):
            if not oa[k] & ob[k]:
                return f"another Go build: {k} {min(oa[k])} in {a.label}, {min(ob[k])} in {b.label}"
    if a.dump.goroutines and b.dump.goroutines:
        ca, cb = a.creators, b.creators
        for gid in sorted(ca.keys() & cb.keys()):
            if ca[gid] != cb[gid]:
                return (f"goroutine {gid} was created by {ca[gid]} in {a.label}, by {cb[gid]} "
                        f"in {b.label}")
    ta, tb = _when(a.dump), _when(b.dump)
    if ta and tb and a.dump.max_id and b.dump.max_id:
        early, late = (a, b) if ta <= tb else (b, a)
        if late.dump.max_id < early.dump.max_id:
            return (f"goroutine ids went back from {fmt_int(early.dump.max_id)} to "
                    f"{fmt_int(late.dump.max_id)}: the process restarted")
    return ""


def timelines(dumps: list[GoroutineDump], names: list[str] | None = None
              ) -> tuple[list[list[Moment]], list[str]]:
    """Dumps -> one time-ordered list of moments per process, and what was done to get
    there (warnings). `names` label the dumps in warnings ("dump 2")."""
    names = names or [d.name or f"dump {i}" for i, d in enumerate(dumps, 1)]
    warnings: list[str] = []
    moments = [Moment(d, n) for d, n in zip(dumps, names, strict=True)]
    stamped = len(moments) > 1 and all(_when(m.dump) for m in moments)
    if stamped:
        moments.sort(key=lambda m: _when(m.dump) or datetime.min)
    # The two forms of one moment are one dump, read from its debug=2.
    merged: list[Moment] = []
    for m in moments:
        twin = next((x for x in merged if _same_moment(x, m)), None)
        if twin is None:
            merged.append(m)
            continue
        d1, d2 = (twin, m) if twin.dump.format == "debug=1" else (m, twin)
        warnings.append(f"{d1.label} (debug=1) shows the stacks of {d2.label} (debug=2) in "
                        "the same numbers: read as one moment in two forms, with the states, "
                        "wait times and mutex addresses of the debug=2")
        d2.names = sorted(twin.names + m.names, key=names.index)
        merged[merged.index(twin)] = d2
    procs: list[list[Moment]] = []
    for m in merged:
        why = ""
        for p in procs:
            # against every dump of it: a debug=1 has no ids to compare with a debug=2
            why = next((w for w in (_other_process(x, m) for x in p) if w), "")
            if not why:
                p.append(m)
                break
        else:
            if procs:
                warnings.append(f"{m.label} comes from another process than "
                                f"{procs[0][0].label} ({why}): analyzed on its own, not as a "
                                "later dump of it")
            procs.append([m])
    for p in procs:
        given = [m.label for m in p]
        how = "log timestamps"
        if not stamped and len(p) > 1 and all(m.dump.max_id for m in p):
            p.sort(key=lambda m: m.dump.max_id)  # goroutine ids only grow in a process
            how = "goroutine ids"
        if [m.label for m in p] != given or (stamped and given != sorted(given, key=_num)):
            warnings.append(f"dumps read in the order of the time they carry ({how}): "
                            + ", ".join(m.label for m in p))
    return procs, warnings


def _num(label: str) -> tuple[int, ...]:
    return tuple(int(x) for x in label.replace("+", " ").split() if x.isdigit())


def go_findings(dumps: list[GoroutineDump], names: list[str] | None,
                t: GoroutineThresholds) -> tuple[list[Finding], list[str]]:
    """Findings over dumps of one or more processes, and warnings on how they were read."""
    if not dumps:
        return [], []
    procs, warnings = timelines(dumps, names)
    out: list[Finding] = []
    for tl in procs:
        found = _process_findings(tl, t)
        if len(procs) > 1:
            for f in found:
                f.title = f"{tl[-1].label}: {f.title}"
                f.data["dumps"] = [n for m in tl for n in m.names]
        out += found
    return out, warnings


def goroutine_findings(dumps: list[GoroutineDump], t: GoroutineThresholds) -> list[Finding]:
    return go_findings(dumps, None, t)[0]


def _process_findings(tl: list[Moment], t: GoroutineThresholds) -> list[Finding]:
    last = tl[-1]
    ref = next((m for m in reversed(tl) if m.dump.format == "debug=2"), None)
    claimed: set[Key] = set()  # stacks explained by a finding
    out = mutex_rule(last, ref, t, claimed)
    out += leak_rule(tl, ref, t, claimed)
    out += identical_rule(last.groups, t, claimed)
    if len(tl) > 1:
        out += growth_rule(tl, t)
    return out


# --- GO_MUTEX_PILEUP ----------------------------------------------------------------------

def _mutex_waits(d: GoroutineDump, member: set[Key]) -> dict[tuple[str, int], GoGroup]:
    """debug=2: mutex waiters per (address, stack), from each goroutine's Lock frame."""
    per: dict[tuple[str, int], GoGroup] = {}
    for gr in d.goroutines:
        if gr.state in MUTEX_STATES and gr.stack.key in member:
            k = (gr.wait_addr or "unknown", id(gr.stack))
            sub = per.get(k)
            if sub is None:
                sub = per[k] = GoGroup(gr.state, gr.stack, 0)
            sub.count += 1
            sub.max_minutes = max(sub.max_minutes, gr.minutes)
            if len(sub.ids) < 10:
                sub.ids.append(gr.id)
    return per


def mutex_rule(last: Moment, ref: Moment | None, t: GoroutineThresholds,
               claimed: set[Key]) -> list[Finding]:
    mutex_groups = [g for g in last.groups if _is_mutex_group(g)]
    if not mutex_groups:
        return []
    member = {g.stack.key for g in mutex_groups}
    by_addr: dict[str, list[GoGroup]] = {}
    minutes: dict[str, int | None] = {}  # None: the format does not carry them
    source = ""  # where addresses and minutes come from when last is debug=1
    if last.dump.format == "debug=2":
        for (addr, _), sub in _mutex_waits(last.dump, member).items():
            by_addr.setdefault(addr, []).append(sub)
            minutes[addr] = max(minutes.get(addr) or 0, sub.max_minutes)
    else:
        # debug=1: counts from it; the address and the minutes only from an earlier debug=2
        # of the same process, for the stacks seen there.
        seen = _mutex_waits(ref.dump, member) if ref else {}
        addr_of: dict[Key, str] = {}
        mins_of: dict[Key, int] = {}
        for (addr, _), sub in seen.items():
            k = sub.stack.key
            addr_of[k] = addr if addr_of.get(k, addr) == addr else "several"
            mins_of[k] = max(mins_of.get(k, 0), sub.max_minutes)
        for g in mutex_groups:
            addr = addr_of.get(g.stack.key, "")
            if addr and addr not in ("several", "unknown") and ref:
                source = ref.label
                by_addr.setdefault(addr, []).append(g)
                minutes[addr] = max(minutes.get(addr) or 0, mins_of[g.stack.key])
            else:
                by_addr.setdefault(_NO_ARGS, []).append(g)
                minutes[_NO_ARGS] = None
    out: list[Finding] = []
    for addr, subs in sorted(by_addr.items(), key=lambda kv: -sum(g.count for g in kv[1])):
        n = sum(g.count for g in subs)
        if n < t.mutex_waiters_warning:
            continue
        claimed.update(g.stack.key for g in subs)
        longest = minutes[addr]
        critical = n >= t.mutex_waiters_critical or (
            longest is not None and longest >= t.mutex_critical_minutes)
        subs.sort(key=lambda g: -g.count)
        ids = [i for g in subs for i in g.ids][:10]
        sites = ", ".join(app_func(g.stack) for g in subs[:3])
        if addr == _NO_ARGS:
            title = (f"{fmt_int(n)} goroutines wait on a mutex, address and wait times "
                     f"unknown (debug=1 dumps carry no arguments); call sites: {sites}")
        elif last.dump.format == "debug=1":
            title = (f"{fmt_int(n)} goroutines wait on mutex {addr}, longest for "
                     f"{_minutes(longest or 0)} in {source} (debug=2; {last.label} is "
                     f"debug=1); call sites: {sites}")
        else:
            title = (f"{fmt_int(n)} goroutines wait on mutex {addr}, longest for "
                     f"{_minutes(longest or 0)}; call sites: {sites}")

        def wait(g: GoGroup, addr: str = addr) -> str:
            if last.dump.format == "debug=2":
                return _minutes(g.max_minutes)
            return "-" if addr == _NO_ARGS else f"see {source}"

        evidence: list[Block] = [
            TableBlock(headers=["goroutines", "state", "longest wait", "call site",
                                "created by", "e.g. goroutine"],
                       rows=[[fmt_int(g.count), g.state, wait(g), app_func(g.stack),
                              g.stack.created_by, ", ".join(map(str, g.ids[:3])) or "-"]
                             for g in subs[: t.max_rows]]),
            go_stack_block(subs[0].stack, f"{fmt_int(subs[0].count)} goroutines, e.g. "
                                          f"goroutine {subs[0].ids[0] if subs[0].ids else '?'}"),
        ]
        out.append(Finding(
            rule="GO_MUTEX_PILEUP",
            severity=Severity.CRITICAL if critical else Severity.WARNING,
            subject=addr,
            title=title,
            hint="A sync.Mutex is held and not released: a return path without Unlock (use "
                 "defer mu.Unlock()), or a holder blocked on I/O or a channel while holding "
                 "it. Go does not name the holder: look for a goroutine inside the code that "
                 "takes this lock and is not waiting for it; minutes that grow between two "
                 "dumps prove it is never released (incident 004).",
            evidence=evidence,
            data={"address": addr, "waiters": n, "max_minutes": longest,
                  "call_sites": [app_func(g.stack) for g in subs], "goroutine_ids": ids,
                  **({"address_from": source} if source and addr != _NO_ARGS else {})},
        ))
    return out


# --- GO_GOROUTINE_LEAK --------------------------------------------------------------------

def _waits(d: GoroutineDump, t: GoroutineThresholds) -> dict[Key, tuple[int, int]]:
    """stack -> (goroutines that waited leak_minutes or more, the longest wait)."""
    out: dict[Key, tuple[int, int]] = {}
    for g in d.goroutines:
        if g.minutes:
            k = g.stack.key
            aged, longest = out.get(k, (0, 0))
            out[k] = (aged + (g.minutes >= t.leak_minutes), max(longest, g.minutes))
    return out


def leak_rule(tl: list[Moment], ref: Moment | None, t: GoroutineThresholds,
              claimed: set[Key]) -> list[Finding]:
    last = tl[-1]
    waits = _waits(ref.dump, t) if ref else {}
    ref_state = {g.stack.key: g.state for g in reversed(ref.groups)} if ref else {}
    out: list[Finding] = []
    possible: list[GoGroup] = []
    for g in last.groups:
        key = g.stack.key
        state = g.state
        if state == CHAN_OR_SELECT and ref_state.get(key, "") in _CHAN | _FOREVER:
            state = ref_state[key]
        if state not in _CHAN and state not in _FOREVER:
            continue
        hist = [m.counts[key] for m in tl]
        aged, longest = waits.get(key, (0, 0))
        forever = state in _FOREVER and g.count >= t.leak_forever_min
        waited = aged >= t.leak_minutes_min_goroutines
        grew = (len(hist) > 1 and all(b >= a for a, b in pairwise(hist))
                and hist[-1] - hist[0] >= t.leak_growth_min)
        if not (forever or waited or grew):
            if ref is None and g.count >= t.leak_minutes_min_goroutines:
                possible.append(g)
            continue
        claimed.add(key)
        site = app_func(g.stack)
        title = f"{fmt_int(g.count)} goroutines blocked in {state} at {site}"
        if longest:
            title += f" for up to {fmt_int(longest)} minutes"
            if aged < g.count and waited:
                title += f" ({fmt_int(aged)} of them {fmt_int(t.leak_minutes)}+ minutes)"
            if ref is not last and ref is not None:
                title += f" (waits from {ref.label})"
        if grew:
            title += (f", grew {' → '.join(fmt_int(c) for c in hist)} across {len(hist)} "
                      "dumps")
        why = ("a nil channel or an empty select blocks forever" if state in _FOREVER else
               "nobody is left on the other side of the channel")
        proof = ("it can never end" if forever and not (waited or grew) else
                 "the group keeps growing" if grew and not waited else
                 f"they have waited {fmt_int(t.leak_minutes)}+ minutes")
        out.append(Finding(
            rule="GO_GOROUTINE_LEAK",
            severity=Severity.WARNING,
            subject=site,
            title=title,
            hint=f"Leaked goroutines ({proof}): {why}. Each keeps its stack and everything "
                 "it references. Give the operation a way out (context cancellation, a "
                 "buffered or closed channel, a timeout) — see the creator below.",
            evidence=[TableBlock(headers=["goroutines", "state", "longest wait", "created by",
                                          "e.g. goroutine"],
                                 rows=[[fmt_int(g.count), state,
                                        f"{fmt_int(longest)} min" if longest else "-",
                                        g.stack.created_by or "-",
                                        ", ".join(map(str, g.ids[:3])) or "-"]]),
                      go_stack_block(g.stack, site)],
            data={"goroutines": g.count, "state": state, "site": site,
                  "max_minutes": longest, "aged": aged, "counts": hist,
                  "because": [w for w, on in (("wait", waited), ("growth", grew),
                                              ("forever", forever)) if on],
                  "created_by": g.stack.created_by, "key": group_key(g)},
        ))
    if possible:
        out.append(_possible_leak(last, possible, t))
    return out


def _possible_leak(last: Moment, groups: list[GoGroup], t: GoroutineThresholds) -> Finding:
    n = sum(g.count for g in groups)
    top = ", ".join(f"{fmt_int(g.count)} at {app_func(g.stack)}" for g in groups[:4])
    return Finding(
        rule="GO_GOROUTINE_LEAK", severity=Severity.INFO, subject="debug=1",
        title=f"possible leak, the format carries no wait times: {fmt_int(n)} goroutines "
              f"parked in channel operations or select in {len(groups)} stack group(s): {top}",
        hint="A debug=1 dump says how many goroutines wait where, not since when: a leak and "
             "an idle worker pool look alike. Take a debug=2 dump (its ', N minutes' "
             "tell), or a second dump a minute later: a group that grows is a leak.",
        evidence=[TableBlock(headers=["goroutines", "call site", "first frame"],
                             rows=[[fmt_int(g.count), app_func(g.stack),
                                    g.stack.funcs[0] if g.stack.funcs else "-"]
                                   for g in groups[: t.max_rows]])],
        data={"possible": True, "goroutines": n,
              "groups": [{"goroutines": g.count, "site": app_func(g.stack),
                          "key": group_key(g)} for g in groups]},
    )


# --- IDENTICAL_STACK, THREAD_GROWTH -------------------------------------------------------

def identical_rule(groups: list[GoGroup], t: GoroutineThresholds,
                   claimed: set[Key]) -> list[Finding]:
    out: list[Finding] = []
    for g in groups:
        if g.count < t.identical_stack_min or len(out) >= 5:
            break
        # channel waits belong to the leak rule, which judges them by time, not by size
        if (g.stack.key in claimed or g.state in _IDLE_STATES or g.state in _CHAN
                or g.state in _FOREVER or not g.stack.funcs):
            continue
        site = app_func(g.stack)
        out.append(Finding(
            rule="IDENTICAL_STACK", severity=Severity.WARNING, subject=group_key(g),
            title=f"{fmt_int(g.count)} goroutines share one stack at {site} "
                  f"({g.state or 'state unknown'} in {g.stack.funcs[0]})",
            hint="Thousands of goroutines parked in one place wait for one thing that does "
                 "not come (a WaitGroup never Done, a Cond never signalled, a slow call). "
                 "Read the frames and the creator.",
            evidence=[go_stack_block(g.stack, f"{fmt_int(g.count)} goroutines")],
            data={"goroutines": g.count, "state": g.state, "site": site, "key": group_key(g),
                  "created_by": g.stack.created_by},
        ))
    return out


def growth_rule(tl: list[Moment], t: GoroutineThresholds) -> list[Finding]:
    first, last = tl[0], tl[-1]
    before, after = first.dump.total, last.dump.total
    delta = after - before
    if delta < t.growth_min_goroutines or delta < t.growth_fraction * before:
        return []
    c0: Counter[str] = Counter()
    c1: Counter[str] = Counter()
    for g in first.groups:
        c0[app_func(g.stack)] += g.count
    for g in last.groups:
        c1[app_func(g.stack)] += g.count
    top = sorted(((c1[k] - c0[k], k) for k in c1), reverse=True)[: t.max_rows]
    top = [(d, k) for d, k in top if d > 0]
    return [Finding(
        rule="THREAD_GROWTH", severity=Severity.WARNING, subject="goroutines",
        title=f"goroutines grew {fmt_int(before)} → {fmt_int(after)} (+{fmt_int(delta)}); "
              "most at " + ", ".join(f"{k} +{fmt_int(d)}" for d, k in top[:3]),
        hint="A goroutine count that only grows is a leak: the sites below start goroutines "
             "that never finish.",
        evidence=[TableBlock(headers=["site", "before", "after", "delta"],
                             rows=[[k, fmt_int(c0[k]), fmt_int(c1[k]), f"+{fmt_int(d)}"]
                                   for d, k in top])],
        data={"before": before, "after": after, "delta": delta,
              "sites": {k: d for d, k in top}},
    )]
