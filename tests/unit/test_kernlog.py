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


# a kern.log spanning a reboot: two kills before it, two after (uptime 7200 s now)
SPANNING = """Nov 20 01:00:00 web-03 kernel: [86000.5] Out of memory: Killed process 10 (java)
Nov 20 01:00:09 web-03 kernel: [86009.5] Out of memory: Killed process 11 (java)
Nov 23 01:10:00 web-03 kernel: [600.0] Memory cgroup out of memory: Killed process 20 (dockerd)
Nov 23 02:58:00 web-03 kernel: [7080.0] Out of memory: Killed process 21 (java)
"""


def test_ages_and_the_reboot_from_the_count():
    ks = parse_oom_kills(SPANNING, uptime_s=7200.0, this_boot=2)
    assert [k.earlier_boot for k in ks] == [True, True, False, False]
    assert [k.age_s for k in ks] == [None, None, 6600.0, 120.0]


def test_the_reboot_from_the_stamps_when_the_count_is_unknown():
    ks = parse_oom_kills(SPANNING, uptime_s=7200.0)
    assert [k.earlier_boot for k in ks] == [True, True, False, False]
    assert ks[3].age_s == 120.0
    # a stamp beyond the uptime cannot be this boot's
    (k,) = parse_oom_kills("[9000.0] Out of memory: Killed process 5 (x)", uptime_s=100.0)
    assert k.earlier_boot and k.age_s is None


def test_without_uptime_no_ages():
    ks = parse_oom_kills(SPANNING, this_boot=1)
    assert [k.earlier_boot for k in ks] == [True, True, True, False]
    assert all(k.age_s is None for k in ks)
