"""Go goroutine-dump rules: GO_MUTEX_PILEUP, GO_GOROUTINE_LEAK, IDENTICAL_STACK and,
across dumps, THREAD_GROWTH (of goroutines). Pure functions of parsed dumps."""

from __future__ import annotations

from collections import Counter

from collectors.analysis.findings import Block, CodeBlock, Finding, Severity, TableBlock, fmt_int
from collectors.analysis.goroutines import (
    MUTEX_STATES,
    GoGroup,
    GoroutineDump,
    GoStack,
    group_key,
)
from collectors.analysis.thresholds import GoroutineThresholds

_CHAN = frozenset({"chan send", "chan receive", "select"})
_FOREVER = frozenset({"chan send (nil chan)", "chan receive (nil chan)", "select (no cases)"})
_MUTEX_FRAMES = ("sync.(*Mutex).Lock", "sync.(*Mutex).lockSlow", "sync.(*RWMutex).Lock",
                 "sync.(*RWMutex).RLock")
_IDLE_STATES = frozenset({"IO wait", "running", "runnable", "syscall", "GC worker (idle)",
                          "force gc (idle)", "finalizer wait", "GC sweep wait",
                          "GC scavenge wait", "timer goroutine (idle)"})


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


def goroutine_findings(dumps: list[GoroutineDump], t: GoroutineThresholds) -> list[Finding]:
    if not dumps:
        return []
    last = dumps[-1]
    groups = last.groups()
    claimed: set[int] = set()  # id() of groups explained by a finding
    out = mutex_rule(last, groups, t, claimed)
    out += leak_rule(groups, t, claimed)
    out += identical_rule(groups, t, claimed)
    if len(dumps) > 1:
        out += growth_rule(dumps, t)
    return out


def mutex_rule(d: GoroutineDump, groups: list[GoGroup], t: GoroutineThresholds,
               claimed: set[int]) -> list[Finding]:
    mutex_groups = [g for g in groups if _is_mutex_group(g)]
    if not mutex_groups:
        return []
    # debug=2: per address, from each goroutine's Lock frame argument.
    by_addr: dict[str, list[GoGroup]] = {}
    if d.format == "debug=2":
        member = {id(g.stack) for g in mutex_groups}
        per: dict[tuple[str, int], GoGroup] = {}
        for gr in d.goroutines:
            if gr.state in MUTEX_STATES and id(gr.stack) in member:
                k = (gr.wait_addr or "unknown", id(gr.stack))
                sub = per.get(k)
                if sub is None:
                    sub = per[k] = GoGroup(gr.state, gr.stack, 0)
                    by_addr.setdefault(k[0], []).append(sub)
                sub.count += 1
                sub.max_minutes = max(sub.max_minutes, gr.minutes)
                if len(sub.ids) < 10:
                    sub.ids.append(gr.id)
    else:
        by_addr["unknown (debug=1 dumps carry no arguments)"] = mutex_groups
    out: list[Finding] = []
    for addr, subs in sorted(by_addr.items(), key=lambda kv: -sum(g.count for g in kv[1])):
        n = sum(g.count for g in subs)
        if n < t.mutex_waiters_warning:
            continue
        claimed.update(id(g.stack) for g in subs)
        longest = max(g.max_minutes for g in subs)
        critical = n >= t.mutex_waiters_critical or longest >= t.mutex_critical_minutes
        subs.sort(key=lambda g: -g.count)
        ids = [i for g in subs for i in g.ids][:10]
        evidence: list[Block] = [
            TableBlock(headers=["goroutines", "state", "longest wait", "call site",
                                "created by", "e.g. goroutine"],
                       rows=[[fmt_int(g.count), g.state, _minutes(g.max_minutes),
                              app_func(g.stack), g.stack.created_by,
                              ", ".join(map(str, g.ids[:3]))] for g in subs[: t.max_rows]]),
            go_stack_block(subs[0].stack, f"{fmt_int(subs[0].count)} goroutines, e.g. "
                                          f"goroutine {subs[0].ids[0] if subs[0].ids else '?'}"),
        ]
        out.append(Finding(
            rule="GO_MUTEX_PILEUP",
            severity=Severity.CRITICAL if critical else Severity.WARNING,
            subject=addr,
            title=f"{fmt_int(n)} goroutines wait on mutex {addr}, longest for "
                  f"{_minutes(longest)}; call sites: "
                  + ", ".join(app_func(g.stack) for g in subs[:3]),
            hint="A sync.Mutex is held and not released: a return path without Unlock (use "
                 "defer mu.Unlock()), or a holder blocked on I/O or a channel while holding "
                 "it. Go does not name the holder: look for a goroutine inside the code that "
                 "takes this lock and is not waiting for it; minutes that grow between two "
                 "dumps prove it is never released (incident 004).",
            evidence=evidence,
            data={"address": addr, "waiters": n, "max_minutes": longest,
                  "call_sites": [app_func(g.stack) for g in subs], "goroutine_ids": ids},
        ))
    return out


def leak_rule(groups: list[GoGroup], t: GoroutineThresholds,
              claimed: set[int]) -> list[Finding]:
    out: list[Finding] = []
    for g in groups:
        if g.state not in _CHAN and g.state not in _FOREVER:
            continue
        forever = g.state in _FOREVER
        long_wait = (g.max_minutes >= t.leak_minutes
                     and g.count >= t.leak_minutes_min_goroutines)
        by_count = g.count >= (t.leak_forever_min if forever else t.leak_group_min)
        if not (long_wait or (by_count and g.state != "select")):
            continue
        claimed.add(id(g.stack))
        site = app_func(g.stack)
        waited = f" for up to {fmt_int(g.max_minutes)} minutes" if g.max_minutes else ""
        why = ("a nil channel or an empty select blocks forever" if forever else
               "nobody is left on the other side of the channel")
        out.append(Finding(
            rule="GO_GOROUTINE_LEAK",
            severity=Severity.WARNING,
            subject=site,
            title=f"{fmt_int(g.count)} goroutines blocked in {g.state} at {site}{waited}",
            hint=f"Leaked goroutines: {why}. Each keeps its stack and everything it "
                 "references. Give the operation a way out (context cancellation, a "
                 "buffered or closed channel, a timeout) — see the creator below.",
            evidence=[TableBlock(headers=["goroutines", "state", "longest wait", "created by",
                                          "e.g. goroutine"],
                                 rows=[[fmt_int(g.count), g.state,
                                        f"{fmt_int(g.max_minutes)} min" if g.max_minutes else "-",
                                        g.stack.created_by or "-",
                                        ", ".join(map(str, g.ids[:3]))]]),
                      go_stack_block(g.stack, site)],
            data={"goroutines": g.count, "state": g.state, "site": site,
                  "max_minutes": g.max_minutes, "created_by": g.stack.created_by,
                  "key": group_key(g)},
        ))
    return out


def identical_rule(groups: list[GoGroup], t: GoroutineThresholds,
                   claimed: set[int]) -> list[Finding]:
    out: list[Finding] = []
    for g in groups:
        if g.count < t.identical_stack_min or len(out) >= 5:
            break
        if id(g.stack) in claimed or g.state in _IDLE_STATES or not g.stack.funcs:
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


def growth_rule(dumps: list[GoroutineDump], t: GoroutineThresholds) -> list[Finding]:
    first, last = dumps[0], dumps[-1]
    before, after = first.total, last.total
    delta = after - before
    if delta < t.growth_min_goroutines or delta < t.growth_fraction * before:
        return []
    c0: Counter[str] = Counter()
    c1: Counter[str] = Counter()
    for g in first.groups():
        c0[app_func(g.stack)] += g.count
    for g in last.groups():
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
