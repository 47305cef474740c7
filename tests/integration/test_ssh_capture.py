"""`hostsnap snapshot` against real sshd test hosts in network namespaces."""

from __future__ import annotations

import asyncio

import pytest

from tests.integration.helpers import service_for

pytestmark = pytest.mark.root


def _findings(view, rule):
    return [f for f in view.finding_list if f.rule == rule]


async def test_thread_hog_found_and_stored_in_both_databases(host, tmp_path, db_url):
    hog = host.thread_hog(3000, name="partner-bridge", user="appuser")
    _, store, svc = await service_for(tmp_path, [host], db_url)
    try:
        (h,) = svc.inventory.resolve([host.name])
        out = await svc.capture(h)
        assert out.error is None, out.error
        v = out.snapshot
        assert v.status == "complete" and v.host == host.name
        limits = v.parsed["limits"]
        top = limits["top"][0]
        assert top["pid"] == hog.host_pid and top["name"] == "partner-bridge"
        assert top["threads"] >= 3000 and top["user"] == "appuser"
        assert "partner-bridge" in top["cmdline"]
        assert limits["cgroups"], "the host's pids cgroup is read"
        # the users table counts appuser's threads and its ulimit -u
        appuser = next(u for u in limits["users"] if u["user"] == "appuser")
        assert appuser["threads"] >= 3000 and appuser["nproc_limit"]
        # stored: listed, raw file readable
        assert [s.id for s in await store.list_snapshots(host.name)] == [v.id]
        _, tsv = await store.get_artifact(v.id, "limits/threads.tsv")
        assert f"{hog.host_pid}\t" in tsv.decode()
    finally:
        await store.close()
        hog.stop()


async def test_cgroup_near_pids_max_is_thread_ceiling(host, tmp_path):
    hog = host.thread_hog(1900, name="partner-bridge")
    limit = host.pids_current() + 60
    host.set_pids_max(limit)
    _, store, svc = await service_for(tmp_path, [host])
    try:
        v = (await svc.capture(svc.inventory.resolve([host.name])[0])).snapshot
        (f,) = [f for f in _findings(v, "THREAD_CEILING") if f.subject.startswith("cgroup")]
        assert f.data["limit"] == limit and limit - 60 <= f.data["used"] <= limit
        assert f.data["cgroup"].endswith(host.name)
        assert f"of pids.max {limit:,}".replace(",", " ") in f.title
        assert f"top: partner-bridge pid {hog.host_pid}" in f.title
        assert f.severity == "critical"
    finally:
        await store.close()
        hog.stop()


async def test_time_wait_pileup(host, tmp_path):
    host.time_wait_pileup(3000, port_range=(40000, 43999))
    _, store, svc = await service_for(tmp_path, [host])
    try:
        v = (await svc.capture(svc.inventory.resolve([host.name])[0],
                               collectors=["network"])).snapshot
        net = v.parsed["network"]
        assert net["time_wait"] >= 2700 and net["port_range"] == [40000, 43999]
        (f,) = _findings(v, "TIME_WAIT_EXHAUSTION")
        assert "vs 4 000 local ports (ip_local_port_range 40000–43999)" in f.title
        assert f.data["top_remote"].startswith("127.0.0.1:")
        assert f.data["top_remote_count"] >= 2700
    finally:
        await store.close()


async def test_changed_host_key_is_refused(host, tmp_path):
    host.rotate_host_key()
    _, store, svc = await service_for(tmp_path, [host])
    try:
        out = await svc.capture(svc.inventory.resolve([host.name])[0])
        assert out.snapshot is None
        assert "host key of" in out.error and "CHANGED" in out.error
        (s,) = await store.list_snapshots(host.name)
        assert s.status == "failed"  # the attempt itself is on record
    finally:
        await store.close()


async def test_unknown_host_key_refused_then_trusted_on_first_use(host, tmp_path):
    kh = tmp_path / "known_hosts"
    kh.write_text("")
    _, store, svc = await service_for(tmp_path, [host], known_hosts=f'"{kh}"')
    try:
        out = await svc.capture(svc.inventory.resolve([host.name])[0])
        assert out.error and "is not in" in out.error and str(kh) in out.error
    finally:
        await store.close()
    _, store, svc = await service_for(tmp_path, [host], known_hosts=f'"{kh}"',
                                      trust_on_first_use="true")
    try:
        out = await svc.capture(svc.inventory.resolve([host.name])[0])
        assert out.error is None
        assert host.host_key_pub.split()[1] in kh.read_text()
        (ev,) = await store.audit_events(action="trust_host_key")
        assert ev.target == host.name and ev.detail["fingerprint"].startswith("SHA256:")
        # a changed key is still refused, TOFU or not
        host.rotate_host_key()
        out = await svc.capture(svc.inventory.resolve([host.name])[0])
        assert out.error and "CHANGED" in out.error
    finally:
        await store.close()


async def test_unreachable_and_auth_failure_are_clear(lab, host, tmp_path):
    _, store, svc = await service_for(tmp_path, [host], port="2")
    try:
        out = await svc.capture(svc.inventory.resolve([host.name])[0])
        assert out.error and f"cannot reach {host.address}:2" in out.error
    finally:
        await store.close()
    _, store, svc = await service_for(tmp_path, [host], user='"nobody-here"')
    try:
        out = await svc.capture(svc.inventory.resolve([host.name])[0])
        assert out.error and "authentication failed for user nobody-here" in out.error
    finally:
        await store.close()


async def test_localhost_and_ssh_host_in_one_command(host, tmp_path):
    _, store, svc = await service_for(tmp_path, [host])
    try:
        outs = await svc.capture_many(svc.inventory.resolve(["localhost", host.name]))
        assert [o.host for o in outs] == ["localhost", host.name]
        assert all(o.snapshot and o.snapshot.status == "complete" for o in outs)
        # the SSH host sees only its own processes (its own pid namespace)
        assert outs[1].snapshot.parsed["limits"]["processes"] < \
            outs[0].snapshot.parsed["limits"]["processes"]
    finally:
        await store.close()


async def test_a_second_request_joins_the_running_capture(host, tmp_path):
    _, store, svc = await service_for(tmp_path, [host])
    try:
        (h,) = svc.inventory.resolve([host.name])
        a, b = await asyncio.gather(svc.capture(h), svc.capture(h))
        assert a.snapshot.id == b.snapshot.id and (a.joined or b.joined)
        assert len(await store.list_snapshots(host.name)) == 1
    finally:
        await store.close()


def test_hosts_command_checks_reachability_and_host_keys(lab, tmp_path):
    from typer.testing import CliRunner

    from bot.cli import app
    from tests.integration.helpers import write_config

    good, stale = lab.add_host("hosts-ok"), lab.add_host("hosts-stale")
    try:
        stale.rotate_host_key()
        cfg = write_config(tmp_path / "c.toml", [good, stale], db_url="sqlite:///x.db")
        r = CliRunner().invoke(app, ["hosts", "--config", str(cfg)])
        assert r.exit_code == 1, r.output
        lines = {ln.split()[0]: ln for ln in r.output.splitlines() if ln.strip()}
        assert "ok host key known" in lines["hosts-ok"]
        assert "CHANGED" in r.output and "hosts-stale" in r.output
        assert "ok (local)" in lines["localhost"]
    finally:
        lab.remove_host(good)
        lab.remove_host(stale)


async def test_warm_sessions_are_bounded(lab, tmp_path):
    from collectors.transport.base import TransportError

    a, b = lab.add_host("warm-a"), lab.add_host("warm-b")
    _, store, svc = await service_for(tmp_path, [a, b])
    svc.settings.watch.max_sessions = 1
    try:
        svc.pool.warm(svc.inventory.resolve(["warm-a"])[0])
        with pytest.raises(TransportError, match=r"already keeping 1 warm sessions"):
            svc.pool.warm(svc.inventory.resolve(["warm-b"])[0])
    finally:
        await svc.pool.close()
        await store.close()
        lab.remove_host(a)
        lab.remove_host(b)
