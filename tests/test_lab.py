"""The test-host lab itself: what the integration tests and benchmarks rely on."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.lab.hosts import PIDS_ROOT, RUN_DIR, Lab

pytestmark = pytest.mark.root


def ssh(host, *remote: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    return subprocess.run(host.ssh_argv(*remote), capture_output=True, text=True,
                          timeout=timeout)


def ssh_ok(host, *remote: str) -> str:
    r = ssh(host, *remote)
    assert r.returncode == 0, f"{r.stderr}\n{host.log_tail()}"
    return r.stdout


def test_host_answers_with_its_own_hostname_in_its_own_cgroup(lab, host):
    assert host.address.startswith("10.213.0.") and host.port == 22 and host.user == "snap"
    assert ssh_ok(host, "cat", "/proc/sys/kernel/hostname").strip() == host.hostname == host.name
    assert ssh_ok(host, "id", "-un").strip() == "snap"
    # sshd is pid 1 of the host; its sessions are in the host's pids cgroup, and
    # /sys/fs/cgroup is readable from inside (no /sys remount)
    assert ssh_ok(host, "cat", "/proc/1/comm").strip() == "sshd"
    assert f"pids:/hostsnap-lab/{host.name}\n" in ssh_ok(host, "cat", "/proc/self/cgroup")
    assert host.cgroup_dir == PIDS_ROOT / "hostsnap-lab" / host.name
    assert ssh_ok(host, "cat", f"/sys/fs/cgroup/pids/hostsnap-lab/{host.name}/pids.max").strip() \
        == "max"
    assert host.sshd_pid in [int(p) for p in (host.cgroup_dir / "cgroup.procs").read_text().split()]
    # known_hosts files keyed by address, with this host's key
    assert host.known_hosts_file.read_text() == f"{host.address} {host.host_key_pub}\n"
    assert f"{host.address} {host.host_key_pub}\n" in lab.known_hosts_file.read_text()
    assert host.host_key_pub.startswith("ssh-ed25519 ")


def test_proc_shows_only_the_hosts_own_processes(host):
    sleeper = host.spawn(["sleep", "60"], user="appuser")
    try:
        listing = ssh_ok(host, "ls", "/proc")
        pids = sorted(int(n) for n in listing.split() if n.isdigit())
        mine = len([n for n in os.listdir("/proc") if n.isdigit()])
        # sshd (1), the session's sshd processes, the shell/ls, our sleep
        assert 1 in pids and len(pids) < 12 < mine, (pids, mine)
        sleep_pid = int(Path(f"/proc/{sleeper.pid}/status").read_text()
                        .split("NSpid:")[1].split("\n")[0].split()[-1])
        assert sleep_pid in pids
        status = ssh_ok(host, "cat", f"/proc/{sleep_pid}/status")
        assert "Name:\tsleep" in status
        uid = int(subprocess.run(["id", "-u", "appuser"], capture_output=True, text=True,
                                 check=True).stdout)
        assert f"Uid:\t{uid}\t" in status
        # spawn() runs inside the host: its network, hostname and cgroup
        r = host.run(["sh", "-c", "hostname; ip -o -4 addr show eth0; cat /proc/self/cgroup"])
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith(f"{host.hostname}\n")
        assert f"inet {host.address}/24" in r.stdout
        assert f"pids:/hostsnap-lab/{host.name}\n" in r.stdout
    finally:
        sleeper.kill()
        sleeper.wait(5)


def test_thread_hog_threads_read_over_ssh(host):
    before = host.pids_current()
    t0 = time.monotonic()
    hog = host.thread_hog(3000, name="partner-bridge", user="appuser")
    took = time.monotonic() - t0
    try:
        assert hog.threads == 3000 and took < 5, took
        assert hog.pid != hog.host_pid
        assert host.pids_current() >= before + 3000
        status = ssh_ok(host, "cat", f"/proc/{hog.host_pid}/status")
        assert re.search(r"^Threads:\s+3000$", status, re.M), status
        assert "Name:\tpartner-bridge" in status
        assert ssh_ok(host, "cat", f"/proc/{hog.host_pid}/comm").strip() == "partner-bridge"
        cmdline = ssh_ok(host, "tr", "'\\0'", "' '", "<", f"/proc/{hog.host_pid}/cmdline")
        assert "partner-bridge" in cmdline
        assert len(ssh_ok(host, "ls", f"/proc/{hog.host_pid}/task").split()) == 3000
    finally:
        hog.stop()
    assert host.pids_current() < before + 100


def test_time_wait_pileup_in_the_hosts_namespace(host):
    root_range = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text()
    t0 = time.monotonic()
    host.time_wait_pileup(2000, port_range=(40000, 43999))
    assert time.monotonic() - t0 < 10
    r = host.run(["ss", "-tan", "state", "time-wait"])
    rows = [ln for ln in r.stdout.splitlines()[1:] if ln.strip()]
    assert len(rows) >= 1800, r.stdout[-500:]
    assert all(40000 <= int(ln.split()[-2].rsplit(":", 1)[1]) <= 43999 for ln in rows)
    assert ssh_ok(host, "cat", "/proc/sys/net/ipv4/ip_local_port_range").split() \
        == ["40000", "43999"]
    # the port range is per network namespace: the machine's is untouched
    assert Path("/proc/sys/net/ipv4/ip_local_port_range").read_text() == root_range


async def test_fill_to_ceiling_blocks_new_logins_but_not_open_sessions(host):
    import asyncssh

    conn = await asyncssh.connect(host.address, port=host.port, username=host.user,
                                  client_keys=[str(host.key_file)],
                                  known_hosts=str(host.known_hosts_file), agent_path=None,
                                  config=None)
    hog = None
    try:
        sftp = await conn.start_sftp_client()
        hog = host.fill_to_ceiling(name="partner-bridge")
        limit = int((host.cgroup_dir / "pids.max").read_text())
        assert host.pids_current() >= limit and hog.threads > 50
        t0 = time.monotonic()
        r = ssh(host, "true")
        assert r.returncode != 0, "a new ssh login must fail at the ceiling"
        assert time.monotonic() - t0 < 5
        assert "fork: Resource temporarily unavailable" in host.sshd_log.read_text()
        # a fork inside the host fails too
        r = host.run(["sh", "-c", "/bin/true && echo forked"])
        assert "forked" not in r.stdout
        # ...but the SFTP session opened before still reads /proc
        async with sftp.open("/proc/loadavg") as f:
            data = await f.read(4096)
        assert len(data.split()) == 5
        async with sftp.open(f"/proc/{hog.host_pid}/comm") as f:
            assert (await f.read(64)).strip() == "partner-bridge"
        # and the hog holds on: the ceiling is still reached a moment later
        time.sleep(0.1)
        assert host.pids_current() >= limit
    finally:
        if hog:
            hog.stop()
        conn.close()
        await conn.wait_closed()
    assert ssh_ok(host, "echo", "back").strip() == "back"
    host.set_pids_max(None)
    assert (host.cgroup_dir / "pids.max").read_text().strip() == "max"


def test_rotated_host_key_is_refused_by_a_strict_client(lab, host, tmp_path):
    old = host.host_key_pub
    sshd_pid = host.sshd_pid
    host.rotate_host_key()
    assert host.host_key_pub != old and host.sshd_pid == sshd_pid
    r = ssh(host, "true")
    assert r.returncode != 0
    assert "REMOTE HOST IDENTIFICATION HAS CHANGED" in r.stderr
    assert "Host key verification failed" in r.stderr
    # both known_hosts files still hold the old key
    assert old in host.known_hosts_file.read_text()
    assert old in lab.known_hosts_file.read_text()
    # with the new key it works again: same address, same sshd
    kh = tmp_path / "known_hosts"
    kh.write_text(f"{host.address} {host.host_key_pub}\n")
    argv = [a.replace(str(host.known_hosts_file), str(kh)) for a in host.ssh_argv("hostname")]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    assert r.returncode == 0 and r.stdout.strip() == host.hostname, r.stderr


def test_twenty_hosts_are_fast_and_separate(lab):
    hosts, times = [], []
    try:
        for i in range(20):
            t0 = time.monotonic()
            hosts.append(lab.add_host(f"many-{i:02d}", pids_max=500 + i,
                                      hostname=f"web-{i:02d}" if i % 2 else None))
            times.append(time.monotonic() - t0)
        assert max(times) < 1, times
        assert len({h.address for h in hosts}) == 20
        assert all(h.address.startswith("10.213.0.") for h in hosts)
        with ThreadPoolExecutor(10) as pool:
            names = list(pool.map(lambda h: ssh_ok(h, "hostname").strip(), hosts))
        assert names == [f"web-{i:02d}" if i % 2 else f"many-{i:02d}" for i in range(20)]
        assert [h.pids_max() for h in hosts] == [500 + i for i in range(20)]
        kh = lab.known_hosts_file.read_text()
        assert all(f"{h.address} {h.host_key_pub}\n" in kh for h in hosts)
        # the lab-wide known_hosts serves every host
        argv = [a.replace(str(hosts[7].known_hosts_file), str(lab.known_hosts_file))
                for a in hosts[7].ssh_argv("hostname")]
        assert subprocess.run(argv, capture_output=True, text=True,
                              timeout=20).stdout.strip() == "web-07"
    finally:
        for h in hosts:
            lab.remove_host(h)
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert "hsnap0-many-" not in netns
    assert not any((PIDS_ROOT / "hostsnap-lab").glob("many-*"))
    assert not any(_alive(h.sshd_pid) for h in hosts)
    assert "many-" not in lab.known_hosts_file.read_text()


CRASHING_RUN = textwrap.dedent("""
    import os, sys
    sys.path.insert(0, sys.argv[1])
    from pathlib import Path
    from tests.lab.hosts import Lab
    lab = Lab(Path(sys.argv[2]), index=1)
    a, b = lab.add_host("crash-a"), lab.add_host("crash-b")
    hog = a.thread_hog(50)
    print(a.sshd_pid, b.sshd_pid, hog.pid, flush=True)
    os._exit(0)  # no clean-up at all, like a SIGKILLed pytest
""")


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False


def test_a_new_lab_cleans_up_after_a_crashed_one(lab, tmp_path):
    """Names of lab 1 (bridge hsnap1, 10.213.1.0/24, cgroup hostsnap-lab1): the
    session's lab 0 stays untouched. Nothing here contacts lab 1's addresses."""
    root = str(Path(__file__).resolve().parents[1])
    r = subprocess.run([sys.executable, "-c", CRASHING_RUN, root, str(tmp_path / "crashed")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    old = [int(x) for x in r.stdout.split()]
    assert all(_alive(p) for p in old)
    assert (PIDS_ROOT / "hostsnap-lab1" / "crash-a").is_dir()

    lab = Lab(tmp_path / "next", index=1)
    try:
        deadline = time.monotonic() + 5
        while any(_alive(p) for p in old) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not any(_alive(p) for p in old)
        netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        assert "hsnap1-crash" not in netns
        assert not (PIDS_ROOT / "hostsnap-lab1" / "crash-a").exists()
        h = lab.add_host("crash-a")  # the same name again
        assert h.address == "10.213.1.10"
        assert h.run(["hostname"]).stdout.strip() == "crash-a"
    finally:
        lab.close()
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    assert not re.search(r"^\d+: hsnap1", links, re.M)
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert "hsnap1-" not in netns
    assert not (PIDS_ROOT / "hostsnap-lab1").exists()
    assert not (RUN_DIR / "lab1").exists()
