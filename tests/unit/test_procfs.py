from collectors.analysis.procfs import (
    parse_int,
    parse_kv,
    parse_limit,
    parse_loadavg,
    parse_proc_cgroup,
    parse_status,
)
from collectors.analysis.tcp import parse_port_range, parse_tcp_tables

STATUS = b"""Name:\tjava
Umask:\t0022
State:\tS (sleeping)
Tgid:\t811
Pid:\t811
PPid:\t1
Uid:\t1001\t1001\t1001\t1001
Gid:\t1001\t1001\t1001\t1001
VmRSS:\t  524288 kB
Threads:\t29870
"""

LIMITS = b"""Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max processes             4096                 63704                processes
Max open files            1024                 1048576              files
"""


def test_status_fields():
    st = parse_status(811, STATUS)
    assert st is not None
    assert (st.name, st.uid, st.threads, st.ppid, st.vm_rss_kb, st.state) == (
        "java", 1001, 29870, 1, 524288, "S")


def test_status_garbage_is_none_not_crash():
    assert parse_status(1, b"Threads:\tmany\n") is None
    assert parse_status(1, b"\xff\xfe") is not None  # missing fields default


def test_limits_soft_nproc_and_unlimited():
    assert parse_limit(LIMITS) == 4096
    assert parse_limit(LIMITS.replace(b"4096 ", b"unlimited")) is None
    assert parse_limit(None) is None


def test_cgroup_v1_v2_and_hybrid():
    raw = b"12:pids:/system.slice/app.service\n4:memory:/docker/abc\n0::/user.slice\n"
    refs = parse_proc_cgroup(raw)
    assert [(r.version, r.controller, r.path) for r in refs] == [
        (1, "pids", "/system.slice/app.service"), (1, "memory", "/docker/abc"),
        (2, "", "/user.slice")]


def test_int_files():
    assert parse_int(b"max\n") is None
    assert parse_int(b"31500\n") == 31500
    assert parse_int(b"") is None


def test_loadavg_kernel_tasks():
    la = parse_loadavg(b"0.52 0.58 0.59 3/31412 8123\n")
    assert la is not None and la.tasks == 31412 and la.running == 3


def test_kv_meminfo_and_vmstat():
    kv = parse_kv(b"MemTotal:       16303412 kB\nMemAvailable:   14000000 kB\n")
    assert kv == {"MemTotal": 16303412, "MemAvailable": 14000000}
    assert parse_kv(b"oom_kill 3\npgfault 99\n")["oom_kill"] == 3


TCP = b"""  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 1 1
   1: 0100007F:A000 0100007F:1F90 06 00000000:00000000 03:00000000 00000000     0        0 0 3
   2: 0100007F:A001 0100007F:1F90 06 00000000:00000000 03:00000000 00000000     0        0 0 3
   3: 0100007F:A002 0A00000A:0050 01 00200000:00000000 00:00000000 00000000     0        0 5 1
"""
TCP6 = b"""  sl  local_address                         remote_address                        st
   0: 00000000000000000000000000000000:1F91 00000000000000000000000000000000:0000 0A 0:0 0
   1: 0000000000000000FFFF00000100007F:A003 0000000000000000FFFF00000100007F:1F90 06 0:0 0
"""


def test_tcp_states_time_wait_remotes_and_queues():
    n = parse_tcp_tables([TCP, TCP6], parse_port_range(b"40000\t60999\n"))
    assert n.states == {"LISTEN": 2, "TIME_WAIT": 3, "ESTABLISHED": 1}
    assert n.time_wait == 3 and n.time_wait_ephemeral == 3
    assert n.top_time_wait_remotes[0].endpoint == "127.0.0.1:8080"
    assert n.top_time_wait_remotes[0].count == 3  # v4-mapped v6 counts with v4
    assert "127.0.0.1:8080" in n.listeners and "[0:0:0:0:0:0:0:0]:8081" in n.listeners
    assert n.queued and n.queued[0].endpoint.endswith("10.0.0.10:80")
    assert n.port_range_size == 21000


def test_tcp_truncated_table_does_not_crash():
    n = parse_tcp_tables([TCP[: len(TCP) // 2]], None)
    assert n.total >= 1
