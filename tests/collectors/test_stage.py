"""The analysis stage on typed results: per-collector and cross-collector rules,
findings naming their collector, nothing computed inside the collectors."""

from __future__ import annotations

import inspect
import re

from collectors import registry
from collectors.analysis.hostmodels import LimitsSummary, MemorySummary
from collectors.analysis.results import JvmInfo, JvmResult
from collectors.analysis.stage import Evidence, RawFile, analyze, analyze_collector, typed
from collectors.analysis.thresholds import Thresholds

DUMP = """2026-12-04 10:00:00
Full thread dump OpenJDK 64-Bit Server VM (17.0.9+9 mixed mode):

{threads}
JNI global refs: 10, weak refs: 0
"""
EVICTOR = """"Connection evictor" #{n} daemon prio=5 os_prio=0 cpu=0.1ms elapsed=1.0s tid=0x{n:x} nid=0x{n:x} waiting on condition  [0x0]
   java.lang.Thread.State: TIMED_WAITING (sleeping)
\tat java.lang.Thread.sleep(java.base@17.0.9/Native Method)
\tat org.apache.http.impl.client.IdleConnectionEvictor$1.run(IdleConnectionEvictor.java:66)
\tat java.lang.Thread.run(java.base@17.0.9/Thread.java:840)
"""


def _dump(n: int) -> bytes:
    return DUMP.format(threads="\n".join(EVICTOR.format(n=i) for i in range(1, n + 1))).encode()


def _full_host() -> tuple[LimitsSummary, MemorySummary]:
    limits = LimitsSummary(threads_max=1000, pid_max=4_000_000, kernel_tasks=995,
                           visible_threads=995, processes=3)
    memory = MemorySummary(mem_total_kb=16_000_000, mem_available_kb=15_000_000)
    return limits, memory


def test_host_rules_and_the_cross_rule_run_on_typed_results() -> None:
    limits, memory = _full_host()
    found = analyze(Evidence(results={"limits": limits, "memory": memory}), Thresholds())
    by_rule = {f.rule: f for f in found}
    assert by_rule["THREAD_CEILING"].collector == "limits"
    # issue 16: one red line, not two: the memory fact is part of THREAD_CEILING
    assert [f.rule for f in found].count("THREAD_CEILING") == 1
    assert "MEMORY_FREE_THREADS_EXHAUSTED" not in by_rule
    assert "memory is free: " in by_rule["THREAD_CEILING"].title
    # the same from stored JSON (what `reanalyze` reads)
    stored = Evidence(results={"limits": typed("limits", limits.model_dump(mode="json")),
                               "memory": typed("memory", memory.model_dump(mode="json"))})
    assert [f.rule for f in analyze(stored)] == [f.rule for f in found]


def test_jvm_findings_and_summary_come_from_the_raw_dumps() -> None:
    result = JvmResult(jvms=[JvmInfo(pid=42, dumps=[])])
    files = [RawFile(f"jvm/42-dump{i}.txt", _dump(n)) for i, n in ((1, 40), (2, 400))]
    a = analyze_collector("jvm", result.model_dump(mode="json"), files, Thresholds())
    rules = {f.rule: f for f in a.findings}
    assert "HTTPCLIENT_EVICTOR_LEAK" in rules, [f.title for f in a.findings]
    assert rules["HTTPCLIENT_EVICTOR_LEAK"].data["pid"] == 42
    assert all(f.collector == "jvm" for f in a.findings)
    assert isinstance(a.result, JvmResult) and a.result.jvms[0].summary
    # no raw dump kept: no finding, and the stored result is left as it was
    assert analyze_collector("jvm", result, [], Thresholds()).findings == []


def test_collectors_compute_no_findings() -> None:
    for cls in registry.COLLECTORS.values():
        src = inspect.getsource(inspect.getmodule(cls))  # type: ignore[arg-type]
        assert "result.findings" not in src and "analyze_dumps" not in src, cls.name
        assert not re.search(r"\w_findings\(", src), cls.name


def test_a_typed_result_is_stored_with_the_keys_the_collectors_always_wrote() -> None:
    from collectors.analysis.results import GoEndpoint, GoroutinesResult, JvmDump, dump_json

    res = JvmResult(jvms=[])
    info = JvmInfo(pid=7, nspid=7, user="app", threads=3, cmdline="java X",
                   listener_before=False, stdout="/x.log", dumps=[])
    res.jvms.append(info)
    info.dumps.append(JvmDump(method="attach", why="w", bytes=10, seconds=0.1))
    info.jdk = "17.0.9"
    assert dump_json(res) == {"jvms": [{
        "pid": 7, "nspid": 7, "user": "app", "threads": 3, "cmdline": "java X",
        "listener_before": False, "stdout": "/x.log", "jdk": "17.0.9",
        "dumps": [{"method": "attach", "why": "w", "bytes": 10, "seconds": 0.1}]}]}
    row = GoEndpoint(endpoint="127.0.0.1:6060", path="/debug/pprof", source="label",
                     pid=None, process="")
    row.error = "HTTP 404"
    assert dump_json(GoroutinesResult(endpoints=[row], discovery=[])) == {
        "endpoints": [{"endpoint": "127.0.0.1:6060", "path": "/debug/pprof", "source": "label",
                       "pid": None, "process": "", "error": "HTTP 404"}], "discovery": []}
