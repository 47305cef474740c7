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
    # A process a second old: the 500 in chan send and the 300 in chan receive have waited
    # no time, so nothing proves a leak yet (a worker pool looks the same); a nil channel
    # and an empty select can never end. (This test used to call all four leaks.)
    assert {s: f.data["goroutines"] for s, f in leaks.items()} == {
        "chan receive (nil chan)": 20, "select (no cases)": 15}
    assert leaks["chan receive (nil chan)"].subject == "main.waitForever"
    assert leaks["chan receive (nil chan)"].data["because"] == ["forever"]
    assert "it can never end" in leaks["chan receive (nil chan)"].hint
    wg = [f for f in a.findings if f.rule == "IDENTICAL_STACK"]
    assert len(wg) == 1
    assert wg[0].title == ("1 500 goroutines share one stack at main.leakMode.func1 "
                           "(semacquire in sync.runtime_Semacquire)")
    assert "GO_MUTEX_PILEUP" not in rules(a)  # a WaitGroup's semacquire is no mutex

    # debug=1 carries no wait reasons for channels nor wait times: the channel piles are a
    # possible leak (info) that says so; the WaitGroup pile is still an identical stack.
    one = analyze_dumps([d1])
    assert rules(one) == ["GO_GOROUTINE_LEAK", "IDENTICAL_STACK"]
    (possible,) = [f for f in one.findings if f.rule == "GO_GOROUTINE_LEAK"]
    assert possible.severity == Severity.INFO and possible.data["possible"]
    assert "the format carries no wait times" in possible.title
    assert sorted(g["goroutines"] for g in possible.data["groups"]) == [15, 20, 300, 500]
    (wg1,) = [f for f in one.findings if f.rule == "IDENTICAL_STACK"]
    assert wg1.data["goroutines"] == 1500


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
