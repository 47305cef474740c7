"""Go rules on goroutine dumps fetched live over loopback from the Go workload, plus the
hand-written Go 1.21 dump for wait reasons and ", N minutes" that Go 1.19 cannot show."""

from __future__ import annotations

import re
from pathlib import Path

from collectors.analysis.dumps import analyze_dumps
from collectors.analysis.findings import Severity
from collectors.analysis.goroutines import parse_goroutines

DATA = Path(__file__).parent / "data"


def rules(a) -> list[str]:
    return sorted(f.rule for f in a.findings)


def test_mutex_pileup_incident_004(go_dumps):
    d2, d1 = go_dumps["mutex"]
    addrs = set(re.findall(rb"sync\.\(\*Mutex\)\.lockSlow\((0x[0-9a-f]+)\)", d2))
    assert len(addrs) == 1
    addr = addrs.pop().decode()
    a = analyze_dumps([d2])
    assert rules(a) == ["GO_MUTEX_PILEUP"]
    f = a.findings[0]
    assert f.title.startswith(f"2 000 goroutines wait on mutex {addr}, longest for ")
    assert {"main.(*pushHub).publish", "main.(*pushHub).subscribe"} <= set(f.data["call_sites"])
    assert f.data["waiters"] == 2000 and f.severity == Severity.CRITICAL
    assert a.dumps[0]["states"]["semacquire"] == 2000  # Go 1.19 spelling

    one = analyze_dumps([d1])  # debug=1: same pile-up, no address to show
    assert rules(one) == ["GO_MUTEX_PILEUP"]
    assert one.findings[0].data["waiters"] == 2000
    assert "debug=1 dumps carry no arguments" in one.findings[0].title


def test_goroutine_leaks(go_dumps):
    d2, d1 = go_dumps["leak"]
    a = analyze_dumps([d2])
    leaks = {f.data["state"]: f for f in a.findings if f.rule == "GO_GOROUTINE_LEAK"}
    assert {s: f.data["goroutines"] for s, f in leaks.items()} == {
        "chan send": 500, "chan receive": 300, "chan receive (nil chan)": 20,
        "select (no cases)": 15}
    assert leaks["chan send"].title == (
        "500 goroutines blocked in chan send at main.(*notifier).publish")
    assert leaks["chan receive (nil chan)"].subject == "main.waitForever"
    wg = [f for f in a.findings if f.rule == "IDENTICAL_STACK"]
    assert len(wg) == 1
    assert wg[0].title == ("1 500 goroutines share one stack at main.leakMode.func1 "
                           "(semacquire in sync.runtime_Semacquire)")
    assert "GO_MUTEX_PILEUP" not in rules(a)  # a WaitGroup's semacquire is no mutex

    # debug=1 has no wait reasons for channels: the big piles still show as identical
    # stacks (>= 500 by default), the leak rule needs debug=2.
    one = analyze_dumps([d1])
    assert sorted(f.data["goroutines"] for f in one.findings) == [500, 1500]
    assert rules(one) == ["IDENTICAL_STACK", "IDENTICAL_STACK"]


def test_goroutine_growth(go_dumps):
    first, second = go_dumps["grow"]
    n0 = parse_goroutines(first.decode()).total
    n1 = parse_goroutines(second.decode()).total
    a = analyze_dumps([first, second])
    g = [f for f in a.findings if f.rule == "THREAD_GROWTH"]
    assert len(g) == 1
    assert g[0].title.startswith(f"goroutines grew {n0:,} → {n1:,} (+{n1 - n0:,})"
                                 .replace(",", " "))
    assert "main.handle" in g[0].data["sites"]


def test_healthy_go_has_no_findings(go_dumps):
    d2, d1 = go_dumps["healthy"]
    assert analyze_dumps([d2]).findings == []
    assert analyze_dumps([d1]).findings == []
    assert analyze_dumps([d2, d2]).findings == []


def test_go121_wait_reasons_and_minutes_handmade():
    """Hand-written: Go >= 1.20 wait reasons and ", N minutes" (needs a minute + a GC)."""
    text = (DATA / "go121_handmade.txt").read_text()
    d = parse_goroutines(text)
    by_id = {g.id: g for g in d.goroutines}
    assert by_id[117].state == "sync.Mutex.Lock" and by_id[117].minutes == 6274
    assert by_id[117].wait_addr == "0xc000771900"
    assert by_id[140].wait_addr == "sema 0xc000771a0c"
    assert by_id[7].locked and by_id[7].state == "syscall"
    assert by_id[117].stack.created_by == "push.(*Server).handle"

    from collectors.analysis.thresholds import GoroutineThresholds, Thresholds

    t = Thresholds(goroutines=GoroutineThresholds(mutex_waiters_warning=2,
                                                  leak_minutes_min_goroutines=1))
    a = analyze_dumps([text.encode()], t)
    mutex = [f for f in a.findings if f.rule == "GO_MUTEX_PILEUP"]
    assert len(mutex) == 1
    assert mutex[0].title.startswith("2 goroutines wait on mutex 0xc000771900, longest for "
                                     "6 776 minutes")
    assert mutex[0].severity == Severity.CRITICAL
    leaks = sorted(f.title for f in a.findings if f.rule == "GO_GOROUTINE_LEAK")
    assert leaks == [
        "1 goroutines blocked in chan receive (nil chan) at push.(*Feed).wait for up to "
        "15 minutes",
        "1 goroutines blocked in select (no cases) at main.main for up to 6 776 minutes",
        "1 goroutines blocked in select at push.(*Session).loop for up to 45 minutes",
    ]
    # With default thresholds, single goroutines are not a leak.
    assert [f.rule for f in analyze_dumps([text.encode()]).findings] == []
