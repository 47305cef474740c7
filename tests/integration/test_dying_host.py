"""Capture from a host that can no longer fork, and from many hosts at once."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from bot.watch import daemon as watchd
from tests.integration.helpers import service_for, write_config

pytestmark = pytest.mark.root


def _login_fails(host) -> str:
    r = subprocess.run(host.ssh_argv("true"), capture_output=True, text=True, timeout=20)
    assert r.returncode != 0, "a new ssh login should fail at the ceiling"
    return r.stderr


async def test_warm_session_captures_at_the_ceiling(host, tmp_path):
    _, store, svc = await service_for(tmp_path, [host])
    (h,) = svc.inventory.resolve([host.name])
    ws = svc.pool.warm(h)
    hog = None
    try:
        await asyncio.wait_for(ws.ready.wait(), 10)
        assert ws.session is not None and ws.session.has_shell
        hog = host.fill_to_ceiling(name="partner-bridge")
        _login_fails(host)
        # fork fails inside the host too: the measured fact the design rests on
        assert host.pids_current() >= int((host.cgroup_dir / "pids.max").read_text())

        events = []

        async def progress(ev):
            events.append(ev)

        t0 = time.monotonic()
        out = await svc.capture(h, on_progress=progress)
        took = time.monotonic() - t0
        assert out.error is None, out.error
        v = out.snapshot
        assert v.status == "complete", [(c.name, c.status, c.error) for c in v.collectors]
        assert any(e.warm for e in events if e.status == "connected")
        ceiling = [f for f in v.finding_list
                   if f.rule == "THREAD_CEILING" and f.subject.startswith("cgroup")]
        assert ceiling and f"top: partner-bridge pid {hog.host_pid}" in ceiling[0].title
        assert ceiling[0].data["used"] >= ceiling[0].data["limit"] - 2
        # issue 16: memory free is a fact of that THREAD_CEILING, not a second red line
        assert not [f for f in v.finding_list if f.rule == "MEMORY_FREE_THREADS_EXHAUSTED"]
        assert "— memory is free: " in ceiling[0].title
        assert "the thread ceiling is not" in ceiling[0].title
        assert took < 5
        # the pre-started shell still signals without a fork (kill is a builtin)
        assert await ws.session.signal(hog.host_pid, "0") is True
    finally:
        if hog:
            hog.stop()
        await svc.pool.close()
        await store.close()


async def test_without_warm_session_the_error_says_what_to_do(host, tmp_path):
    hog = host.fill_to_ceiling()
    _, store, svc = await service_for(tmp_path, [host])
    try:
        out = await svc.capture(svc.inventory.resolve([host.name])[0])
        assert out.snapshot is None and out.error
        assert "hostsnap watch" in out.error or "cannot reach" in out.error
    finally:
        hog.stop()
        await store.close()


async def test_warm_session_reconnects_when_dropped(host, tmp_path):
    _, store, svc = await service_for(tmp_path, [host])
    (h,) = svc.inventory.resolve([host.name])
    ws = svc.pool.warm(h)
    try:
        await asyncio.wait_for(ws.ready.wait(), 10)
        first = ws.session
        first.conn.abort()
        for _ in range(100):
            await asyncio.sleep(0.1)
            if ws.session is not None and ws.session is not first and ws.ready.is_set():
                break
        assert ws.reconnects == 1 and ws.session is not first
        out = await svc.capture(h)
        assert out.snapshot and out.snapshot.status == "complete"
    finally:
        await svc.pool.close()
        await store.close()


def _hostsnap(*args, env, timeout=60):
    return subprocess.run([sys.executable, "-m", "bot", *args], env=env, capture_output=True,
                          text=True, timeout=timeout)


async def test_watch_command_then_snapshot_through_it(host, tmp_path):
    """What a user does: `hostsnap watch web-03` in one terminal; the host hits
    its ceiling; `hostsnap snapshot web-03` in another still works."""
    cfg = write_config(tmp_path / "c.toml", [host], db_url=f"sqlite:///{tmp_path}/hs.db")
    sock = tmp_path / "run" / "watch.sock"
    env = {**os.environ, "HOSTSNAP_CONFIG": str(cfg), "HOSTSNAP_WATCH_SOCKET": str(sock)}
    watch = subprocess.Popen([sys.executable, "-m", "bot", "watch", host.name], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    hog = None
    try:
        for _ in range(100):
            doc = await watchd.request({"op": "status"}, path=sock, timeout=2)
            if doc and doc["hosts"] and doc["hosts"][0]["connected"] and doc["hosts"][0]["shell"]:
                break
            await asyncio.sleep(0.1)
        else:
            pytest.fail(f"watch never connected: {doc}")
        hog = host.fill_to_ceiling()
        _login_fails(host)
        r = await asyncio.to_thread(_hostsnap, "snapshot", host.name, "--json", env=env)
        assert r.returncode == 0, r.stderr
        (snap,) = json.loads(r.stdout)["snapshots"]
        assert snap["status"] == "complete"
        assert any(f["rule"] == "THREAD_CEILING" for f in snap["finding_list"])
        st = await asyncio.to_thread(_hostsnap, "watch", "--status", env=env)
        assert host.name in st.stdout and "open" in st.stdout and "watch" in st.stdout
    finally:
        if hog:
            hog.stop()
        watch.send_signal(signal.SIGTERM)
        watch.wait(timeout=10)
    assert not sock.exists()


async def test_fan_out_fleet_summary_names_the_odd_hosts(lab, tmp_path):
    hosts = [lab.add_host(f"fleet-{i}") for i in range(5)]
    procs = []
    try:
        for i, h in enumerate(hosts):
            ver = "1.4.2" if i == 3 else "1.5.0"
            procs.append(h.spawn([sys.executable, "-c", "import time; time.sleep(120)",
                                  f"/opt/push/push-server-{ver}.jar"]))
        hog = hosts[1].thread_hog(2500, name="partner-bridge")
        _, store, svc = await service_for(tmp_path, hosts)
        try:
            from collectors.analysis.fleet import summarize

            targets = svc.inventory.resolve(["fleet-*"])
            assert len(targets) == 5
            outs = await svc.capture_many(targets, concurrency=3)
            assert all(o.snapshot for o in outs), [o.error for o in outs]
            fleet = summarize([o.snapshot for o in outs])
            texts = [s.text for s in fleet.standouts]
            assert any(t.startswith("fleet-1: threads 2 5") for t in texts), texts
            assert "fleet-3: runs push-server 1.4.2 while 4 of 5 run 1.5.0" in texts
            assert not any(t.startswith(("fleet-0", "fleet-2", "fleet-4")) for t in texts)
        finally:
            await store.close()
            hog.stop()
    finally:
        for p in procs:
            p.kill()
            p.wait()
        for h in hosts:
            lab.remove_host(h) if hasattr(lab, "remove_host") else None
