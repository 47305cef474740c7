"""The lab at fleet size: 100 sshd hosts started in parallel, and every SSH
connection dropped at once (what the reconnect tests and bench_fleet.py use)."""

from __future__ import annotations

import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

pytestmark = pytest.mark.root

FLEET = 100
UP_WITHIN = 20.0  # seconds for 100 hosts (measured: ~1.5 s on 2 cores)


def _hostname(host) -> str:
    r = subprocess.run(host.ssh_argv("cat", "/proc/sys/kernel/hostname"), capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, f"{host.name}: {r.stderr}\n{host.log_tail()}"
    return r.stdout.strip()


def test_a_hundred_hosts_start_in_parallel_and_answer(lab):
    t0 = time.monotonic()
    hosts = lab.add_hosts([f"fleet-{i:03d}" for i in range(FLEET)])
    took = time.monotonic() - t0
    try:
        assert took < UP_WITHIN, f"{FLEET} hosts took {took:.1f} s"
        assert len({h.address for h in hosts}) == FLEET
        assert len({h.sshd_pid for h in hosts}) == FLEET
        with ThreadPoolExecutor(20) as pool:
            names = list(pool.map(_hostname, hosts))
        assert names == [f"fleet-{i:03d}" for i in range(FLEET)]
        kh = lab.known_hosts_file.read_text()
        assert all(f"{h.address} {h.host_key_pub}\n" in kh for h in hosts)
        print(f"\n{FLEET} lab hosts up in {took:.2f} s")
    finally:
        t0 = time.monotonic()
        lab.remove_hosts(hosts)
        print(f"{FLEET} lab hosts removed in {time.monotonic() - t0:.2f} s")
    assert not any(h.name in lab.hosts for h in hosts)
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert "fleet-" not in netns


def test_a_name_clash_starts_none(lab):
    with pytest.raises(ValueError, match="repeat"):
        lab.add_hosts(["same-a", "same-a"])
    keep = lab.add_host("clash-b")
    try:
        with pytest.raises(ValueError, match="already exists"):
            lab.add_hosts(["clash-a", "clash-b", "clash-c"])
        assert set(lab.hosts) >= {"clash-b"} and not {"clash-a", "clash-c"} & set(lab.hosts)
    finally:
        lab.remove_host(keep)


def test_drop_connections_ends_sessions_keeps_sshd_and_workloads(lab, host):
    session = subprocess.Popen(host.ssh_argv("sleep", "60"), stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    hog = host.thread_hog(5)
    try:
        deadline = time.monotonic() + 10
        while host.log_tail().count("Accepted publickey") < 1:
            assert time.monotonic() < deadline, host.log_tail()
            time.sleep(0.02)
        assert lab.drop_connections([host]) >= 1
        rc = session.wait(timeout=10)  # the client sees its connection end
        assert rc != 0
        assert hog.alive
        assert _hostname(host) == host.name  # sshd still accepts new logins
    finally:
        if session.poll() is None:
            session.kill()
        session.communicate()
        hog.stop()
