from collectors.analysis.kernlog import parse_oom_kills

LOG = """[12345.678] Out of memory: Killed process 811 (java) total-vm:8000kB, anon-rss:10kB
Nov 23 03:12:01 web-03 kernel: Memory cgroup out of memory: Killed process 99 (dockerd)
random line
[1.0] Out of memory: Kill process 5 (old) score 900 or sacrifice child
"""


def test_oom_lines_all_forms():
    ks = parse_oom_kills(LOG)
    assert [(k.pid, k.process) for k in ks] == [(811, "java"), (99, "dockerd"), (5, "old")]
    assert ks[0].when == "[12345.678]"
    assert ks[1].when.startswith("Nov 23 03:12:01")
