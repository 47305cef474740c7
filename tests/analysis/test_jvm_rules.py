"""Every JVM rule on dumps taken live from the real workloads (tests/workloads/jvm)."""

from __future__ import annotations

import re

from collectors.analysis.dumps import analyze_dumps
from collectors.analysis.findings import Severity
from collectors.analysis.thresholds import ThreadDumpThresholds, Thresholds


def rules(analysis) -> list[str]:
    return sorted(f.rule for f in analysis.findings)


def only(analysis, rule: str):
    found = [f for f in analysis.findings if f.rule == rule]
    assert len(found) == 1, [f.title for f in analysis.findings]
    return found[0]


def test_evictor_leak_incident_002(jvm_dumps):
    dump = jvm_dumps["EvictorLeak"][0]
    evictors = dump.count(b'"Connection evictor" #')
    a = analyze_dumps([dump])
    f = only(a, "HTTPCLIENT_EVICTOR_LEAK")
    assert rules(a) == ["HTTPCLIENT_EVICTOR_LEAK"]
    assert evictors >= 220
    assert f.title.startswith(f'{evictors:,} HttpClient "Connection evictor" threads'
                              .replace(",", " "))
    assert f.data["threads"] == evictors
    assert f.severity == Severity.CRITICAL  # >= 200 by default
    code = next(b for b in f.evidence if b.kind == "code")
    assert "IdleConnectionEvictor$1.run" in code.text


def test_evictor_growth_between_two_dumps(jvm_dumps):
    first, second = jvm_dumps["EvictorLeak"]
    grown = second.count(b'"Connection evictor" #') - first.count(b'"Connection evictor" #')
    a = analyze_dumps([first, second])
    assert rules(a) == ["HTTPCLIENT_EVICTOR_LEAK", "THREAD_GROWTH"]
    leak = only(a, "HTTPCLIENT_EVICTOR_LEAK")
    assert leak.data["growth"] == grown > 20
    assert f"+{grown} since the first dump" in leak.title
    growth = only(a, "THREAD_GROWTH")
    assert growth.subject == "Connection evictor"
    assert f'"Connection evictor" +{grown}' in growth.title
    assert 1.5 < growth.data["seconds"] < 10


def test_http31_pool_exhausted_incident_003(jvm_dumps):
    dump = jvm_dumps["Http31Pool"][0]
    text = dump.decode()
    monitor = re.search(r"waiting on <(0x[0-9a-f]+)> \(a org\.apache\.commons\.httpclient\."
                        r"MultiThreadedHttpConnectionManager\$ConnectionPool\)", text).group(1)
    a = analyze_dumps([dump])
    assert rules(a) == ["HTTP_POOL_EXHAUSTED"]
    f = only(a, "HTTP_POOL_EXHAUSTED")
    assert f.title == (f"38 threads wait for a connection from one commons-httpclient 3.1 pool "
                       f"(monitor <{monitor}>); 2 thread(s) hold its connections")
    # The holders are the two request threads reading the slow backend's response.
    readers = {m.group(1) for m in re.finditer(
        r'"(http-nio-8080-exec-\d+)"[^\n]*\n[^\n]*RUNNABLE\n\tat sun.nio.ch.SocketDispatcher', text)}
    assert set(f.data["holder_threads"]) == readers and len(readers) == 2
    holders = f.evidence[0]
    assert {row[0] for row in holders.rows} == readers
    assert "setDefaultMaxConnectionsPerHost" in f.hint


def test_http4_pool_exhausted(jvm_dumps):
    a = analyze_dumps([jvm_dumps["Http4Pool"][0]])
    assert rules(a) == ["HTTP_POOL_EXHAUSTED"]
    f = only(a, "HTTP_POOL_EXHAUSTED")
    assert f.data["library"] == "HttpClient 4.x"
    assert (f.data["waiters"], f.data["holders"]) == (28, 2)
    assert f.data["monitor_class"].endswith("ConditionObject")
    assert f.title.startswith("28 threads wait for a connection from one HttpClient 4.x pool")


def test_deadlocks_via_jcmd_and_jstack(jvm_dumps):
    for dump in (jvm_dumps["Deadlock"][0], jvm_dumps["Deadlock.jstack"][0]):
        a = analyze_dumps([dump])
        assert rules(a) == ["JVM_DEADLOCK", "JVM_DEADLOCK"]
        titles = sorted(f.title for f in a.findings)
        assert titles == [
            'Java-level deadlock of 2 threads: "reserve-1" and "reserve-2" '
            "(java.util.concurrent.locks.ReentrantLock$NonfairSync)",
            'Java-level deadlock of 2 threads: "transfer-1" and "transfer-2" (java.lang.Object)',
        ]
        assert all(f.severity == Severity.CRITICAL for f in a.findings)
    assert a.dumps[0]["format"] == "jstack"


def test_lock_convoy_names_the_owner(jvm_dumps):
    a = analyze_dumps([jvm_dumps["LockConvoy"][0]])
    assert rules(a) == ["LOCK_CONVOY", "LOCK_CONVOY"]
    by_owner = {f.data["owner"]: f for f in a.findings}
    monitor = by_owner["cache-refresher"]
    assert monitor.data["blocked"] == 30
    assert re.fullmatch(r'30 threads blocked on <0x[0-9a-f]+> \(a java.lang.Object\) held by '
                        r'"cache-refresher" \(TIMED_WAITING \(sleeping\)\)', monitor.title)
    owner_stack = monitor.evidence[0]
    assert "LockConvoy.refreshCache(LockConvoy.java" in owner_stack.text
    lock = by_owner["session-sweeper"]  # a ReentrantLock: owner from ownable synchronizers
    assert lock.data["blocked"] == 12
    assert "ReentrantLock$NonfairSync" in lock.title


def test_lock_convoy_from_sigquit_stdout(jvm_dumps):
    """SIGQUIT prints no ownable synchronizers: the monitor owner is still named, the
    ReentrantLock owner is reported unknown with the way to get it."""
    a = analyze_dumps([jvm_dumps["LockConvoy.sigquit"][0]])
    titles = sorted(f.title for f in a.findings if f.rule == "LOCK_CONVOY")
    assert len(titles) == 2
    assert any('held by "cache-refresher"' in t for t in titles)
    assert any("owner unknown (take the dump with -l" in t for t in titles)


def test_executor_leak_and_growth(jvm_dumps):
    first, second = jvm_dumps["ExecutorLeak"]
    pools = {int(n) for n in re.findall(rb'"pool-(\d+)-thread-\d+"', second)}
    a = analyze_dumps([first, second])
    f = only(a, "EXECUTOR_LEAK")
    assert f.data["pools"] == len(pools) >= 120
    assert f.data["highest"] == max(pools)
    assert f.data["new_pools"] > 10
    assert f.title.startswith(f"{len(pools)} thread pools alive (pool-{min(pools)} … "
                              f"pool-{max(pools)}")
    assert "THREAD_GROWTH" in rules(a)
    assert "IDENTICAL_STACK" not in rules(a)  # the idle pool threads are the leak, not a pile


def test_identical_stack_cpu_hot_and_stuck(jvm_dumps):
    first, second = jvm_dumps["SlowBackend"]
    one = analyze_dumps([first])
    readers = [f for f in one.findings if f.rule == "IDENTICAL_STACK"
               and "SlowBackend.call" in f.title]
    assert len(readers) == 1
    assert readers[0].title.startswith("60 threads share one stack at SlowBackend.call(")
    assert "RUNNABLE in sun.nio.ch.SocketDispatcher.read0" in readers[0].title

    # CPU shares depend on what else this machine runs: a test-sized bar, same rule.
    t = Thresholds(threads=ThreadDumpThresholds(stuck_min_seconds=1.0, cpu_hot_fraction=0.3,
                                                cpu_hot_min_ms=200))
    two = analyze_dumps([first, second], t)
    hot = only(two, "CPU_HOT")
    assert hot.subject == "report-builder"
    assert [h["name"] for h in hot.data["threads"]] == ["report-builder"]
    assert hot.data["threads"][0]["share"] > 0.3
    stuck = only(two, "STUCK_THREAD")
    assert stuck.data["threads"] >= 60
    assert sum(n.startswith("http-nio-8080-exec-") for n in stuck.data["names"]) >= 40
    # Default: dumps 2 s apart are too close to call anything stuck.
    assert "STUCK_THREAD" not in rules(analyze_dumps([first, second]))


def test_healthy_jvm_has_no_findings(jvm_dumps):
    first, second = jvm_dumps["Healthy"]
    assert analyze_dumps([first]).findings == []
    strict = Thresholds(threads=ThreadDumpThresholds(stuck_min_seconds=1.0))
    assert analyze_dumps([first, second], strict).findings == []
    summary = analyze_dumps([first]).dumps[0]
    assert summary["pools"]["http-nio-8080-exec-N"] == 16
    assert summary["pools"]["Connection evictor"] == 1  # one shared client: healthy


def test_summary_is_json_and_counts(jvm_dumps):
    import json

    a = analyze_dumps([jvm_dumps["Http31Pool"][0]])
    s = json.loads(json.dumps(a.dumps[0]))
    assert s["format"] == "jcmd" and s["pid"] > 0
    assert s["threads"] == sum(s["states"].values()) == sum(s["pools"].values())
    assert s["pools"]["http-nio-8080-exec-N"] == 40
    top = s["groups"][0]
    assert top["count"] == 38 and "doGetConnection" in "".join(top["frames"])
