from collectors.analysis.findings import Severity
from collectors.analysis.hostmodels import (
    CgroupPids,
    Endpoint,
    LimitsSummary,
    MemorySummary,
    NetworkSummary,
    OomKill,
    ProcessInfo,
    UserThreads,
)
from collectors.analysis.hostrules import (
    cross_findings,
    limits_findings,
    memory_findings,
    merge_amended,
    network_findings,
)
from collectors.analysis.thresholds import HostThresholds

T = HostThresholds()
JAVA = ProcessInfo(pid=811, name="java", user="app", uid=1001, threads=29870,
                   cmdline="java -jar partner-bridge.jar", cgroup="/svc")


def incident_000() -> LimitsSummary:
    return LimitsSummary(threads_max=31500, pid_max=4194304, kernel_tasks=31412,
                         visible_threads=31412, processes=200, top=[JAVA])


def test_thread_ceiling_title_has_numbers_and_culprit():
    (f,) = limits_findings(incident_000(), T)
    assert f.rule == "THREAD_CEILING" and f.severity is Severity.CRITICAL
    assert f.title == ("31 412 threads of threads-max 31 500 — top: java pid 811 (app) "
                       "29 870 threads")
    assert f.data["top_pid"] == 811


def test_no_finding_with_headroom():
    s = incident_000()
    s.kernel_tasks = s.visible_threads = 1000
    assert limits_findings(s, T) == []


def test_cgroup_and_user_ceilings():
    s = LimitsSummary(threads_max=10**6, pid_max=10**6, visible_threads=1990, top=[JAVA],
                      cgroups=[CgroupPids(path="/svc", version=1, pids_current=1990,
                                          pids_max=2000, top_pids=[811])],
                      users=[UserThreads(user="app", uid=1001, threads=4000, processes=3,
                                         nproc_limit=4096, top_pid=811)])
    fs = {f.subject: f for f in limits_findings(s, T)}
    assert fs["cgroup /svc"].title.startswith("cgroup /svc: 1 990 of pids.max 2 000")
    assert "java pid 811" in fs["cgroup /svc"].title
    assert fs["user app"].title.startswith("user app: 4 000 threads of Max processes")


def test_memory_free_is_a_fact_of_the_thread_ceiling_not_a_second_finding():
    """Issue 16: MEMORY_FREE_THREADS_EXHAUSTED restated the THREAD_CEILING as a
    second red line; it is now merged: the same THREAD_CEILING (rule, subject)
    with the memory fact in its title and evidence, replacing the limits one."""
    mem = MemorySummary(mem_total_kb=16 * 1024 * 1024, mem_available_kb=10 * 1024 * 1024)
    (ceiling,) = limits_findings(incident_000(), T)
    (f,) = cross_findings(incident_000(), mem, T)
    assert (f.rule, f.subject) == ("THREAD_CEILING", ceiling.subject)
    assert f.title == (f"{ceiling.title} — memory is free: 10.0 GiB of 16.0 GiB available "
                       "— the thread ceiling is not")
    assert any("10.0 GiB of 16.0 GiB available" in getattr(b, "text", "")
               for b in f.evidence)
    assert f.data["merged"] == "MEMORY_FREE_THREADS_EXHAUSTED"
    (merged,) = merge_amended(limits_findings(incident_000(), T), [f])
    assert merged is f
    mem.mem_available_kb = 100
    assert cross_findings(incident_000(), mem, T) == []


def test_oom_kill_names_victims():
    m = MemorySummary(oom_kills_since_boot=2, oom_events=[
        OomKill(pid=77, process="dockerd", line="Out of memory: Killed process 77 (dockerd)")])
    (f,) = memory_findings(m)
    assert f.rule == "OOM_KILL" and "2 OOM kills since boot — last: dockerd pid 77" in f.title
    assert memory_findings(MemorySummary(oom_kills_since_boot=0)) == []


def _kill(pid: int, name: str, age: float | None = None, earlier: bool = False) -> OomKill:
    return OomKill(pid=pid, process=name, when="[1.0]", age_s=age, earlier_boot=earlier,
                   line=f"Out of memory: Killed process {pid} ({name})")


def test_oom_kill_severity_follows_its_age():
    recent = MemorySummary(oom_kills_since_boot=2, oom_events=[
        _kill(10, "java", age=7000.0), _kill(11, "java", age=125.0)])
    (f,) = memory_findings(recent, T)
    assert f.severity == Severity.CRITICAL
    assert f.title == "2 OOM kills since boot — last 2 min ago: java pid 10, java pid 11"
    assert f.evidence[0].rows[1][0] == "2 min ago [1.0]"
    old = MemorySummary(oom_kills_since_boot=1, oom_events=[_kill(10, "java", age=3 * 3600.0)])
    (f,) = memory_findings(old, T)
    assert f.severity == Severity.WARNING and "last 3 h ago" in f.title
    # the threshold is the user's
    (f,) = memory_findings(old, T.model_copy(update={"oom_recent_minutes": 240}))
    assert f.severity == Severity.CRITICAL


def test_oom_kills_before_the_last_reboot_are_context_not_an_alarm():
    m = MemorySummary(oom_kills_since_boot=0, oom_events=[
        _kill(10, "dockerd", earlier=True)])
    (f,) = memory_findings(m, T)
    assert f.severity == Severity.INFO
    assert f.title == "1 OOM kill logged before the last reboot — last: dockerd pid 10"
    assert f.evidence[0].rows[0][0] == "before reboot [1.0]"


def test_time_wait_exhaustion_per_remote():
    n = NetworkSummary(time_wait=28000, port_range=(32768, 60999), states={"TIME_WAIT": 28000},
                       top_time_wait_remotes=[Endpoint(endpoint="10.0.0.5:8080", count=27000)])
    (f,) = network_findings(n, T)
    assert f.rule == "TIME_WAIT_EXHAUSTION" and f.severity is Severity.CRITICAL
    assert "TIME_WAIT 28 000 vs 28 232 local ports" in f.title
    assert "10.0.0.5:8080 27 000" in f.title
    # spread over many remotes: no single 4-tuple space is near exhaustion
    n.top_time_wait_remotes = [Endpoint(endpoint="10.0.0.5:8080", count=2000)]
    assert network_findings(n, T) == []
