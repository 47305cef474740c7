"""The docker collector against podman's Docker-compatible Engine API: real
containers with and without --memory/--pids-limit, one at its pids limit, one
near its memory limit, one crash-looping; captured on this machine (a local unix
connection) and over SSH from a lab host (direct-streamlocal forwarding)."""

from __future__ import annotations

import json
import socket
import tempfile
from pathlib import Path

import pytest

from collectors.base import CollectContext, HostInfo, Status
from collectors.docker import DockerCollector
from collectors.runner import run_collector
from collectors.transport.local import LocalSession
from tests.conftest import skip_or_fail
from tests.integration.helpers import service_for
from tests.podman.service import Podman, PodmanError, unavailable_reason

pytestmark = pytest.mark.root

MiB = 1024 * 1024
SPAWN = "i=0; while [ $i -lt {n} ]; do sleep 600 & i=$((i+1)); done; wait"
# 28 separate 1 MiB strings (a[j]=x copies; s=s s would double the peak and OOM)
FILL = 'BEGIN{x="x"; for(i=0;i<20;i++) x=x x; for(j=0;j<28;j++) a[j]=x; system("sleep 600")}'
CONTAINERS: dict[str, tuple[list[str], list[str]]] = {
    # sh + 195 sleeps = 196 tasks of 200: at the limit, like the 1 998 of 2 048 of 003
    "payments-api": (["--pids-limit", "200", "--memory", "256m"], ["sh", "-c", SPAWN.format(n=195)]),
    "cache-warmer": (["--pids-limit", "-1"], ["sleep", "600"]),  # no limit at all
    "report-batch": (["--pids-limit", "500"], ["sleep", "600"]),  # no memory limit
    "ledger": (["--pids-limit", "100", "--memory", "64m"], ["sleep", "600"]),  # fine
    "quote-cache": (["--pids-limit", "50", "--memory", "32m"], ["awk", FILL]),  # ~93% memory
    # bounded restarts: a crashed test run leaves no container looping forever
    "crashloop": (["--pids-limit", "50", "--memory", "16m", "--restart", "on-failure:100"],
                  ["sh", "-c", "sleep 0.2; exit 3"]),
}


@pytest.fixture(scope="module")
def engine():
    reason = unavailable_reason()
    if reason:
        skip_or_fail(reason)
    # under /tmp, not pytest's 0700 tmp dir: the lab's SSH user must reach the socket
    base = Path(tempfile.mkdtemp(prefix="hostsnap-podman-"))
    pm = Podman(base)
    try:
        pm.start()
        pm.build_image()
        for name, (opts, cmd) in CONTAINERS.items():
            pm.run(name, *opts, cmd=cmd)
        pm.wait_for("payments-api at 196 tasks", lambda: pm.pids_current("payments-api") == 196)
        pm.wait_for("quote-cache filled", lambda: pm.cgroup_value(
            "quote-cache", "memory", "memory.usage_in_bytes") >= 29 * MiB)
        pm.wait_for("crashloop restarted 3 times",
                    lambda: int(pm.inspect("crashloop", "{{.RestartCount}}") or 0) >= 3)
        yield pm
    except PodmanError as e:
        pytest.fail(f"podman setup failed: {e}")
    finally:
        pm.destroy()


def _by_rule(findings, rule):
    return [f for f in findings if f.rule == rule]


def _check_what_users_see(parsed, findings, engine):
    """The same containers, limits and findings whichever way the socket was reached."""
    assert parsed["engine"].startswith("Podman 4.")
    by_name = {c["name"]: c for c in parsed["containers"]}
    assert set(CONTAINERS) <= set(by_name)
    pay = by_name["payments-api"]
    assert (pay["pids_current"], pay["pids_limit"], pay["memory_limit"]) == (196, 200, 256 * MiB)
    # the host pid joins the limits view (threads per pid)
    assert pay["pid"] == int(engine.inspect("payments-api", "{{.State.Pid}}"))
    assert by_name["cache-warmer"]["pids_limit"] is None
    assert by_name["cache-warmer"]["memory_limit"] is None
    assert parsed["pids_total"] >= 196 + 1 + 1 + 1

    (nolimit,) = _by_rule(findings, "CONTAINER_NO_LIMIT")
    assert sorted(nolimit.data["containers"]) == ["cache-warmer", "report-batch"]
    assert nolimit.data["no_pids_limit"] == ["cache-warmer"]
    assert "cache-warmer (memory, pids)" in nolimit.title
    assert "report-batch (memory)" in nolimit.title

    near = {(f.subject, f.data["resource"]): f for f in _by_rule(findings, "CONTAINER_NEAR_LIMIT")}
    assert set(near) == {("payments-api", "pids"), ("quote-cache", "memory")}
    pids = near["payments-api", "pids"]
    assert pids.title == "payments-api: 196 of pids limit 200 threads (98%)"
    assert pids.severity == "critical"
    mem = near["quote-cache", "memory"]
    assert mem.data["limit"] == 32 * MiB and 0.9 <= mem.data["fraction"] < 1.0
    assert mem.title.startswith("quote-cache: memory ") and "of limit 32.0 MiB" in mem.title

    (loop,) = _by_rule(findings, "CONTAINER_RESTARTING")
    assert loop.subject == "crashloop" and loop.data["restart_count"] >= 3


async def test_containers_through_local_socket(engine):
    ctx = CollectContext(LocalSession(), HostInfo(
        "localhost", labels={"docker_socket": str(engine.socket)}))
    r = await run_collector(DockerCollector(), ctx)
    assert r.status is Status.OK, (r.error, r.warnings)
    _check_what_users_see(r.parsed, r.findings, engine)
    arts = {a.name: a for a in r.artifacts}
    listing = json.loads(arts["docker/containers.json"].data)
    assert {n.lstrip("/") for c in listing for n in c["Names"]} >= set(CONTAINERS)
    inspect = json.loads(arts["docker/inspect/payments-api.json"].data)
    assert inspect["HostConfig"]["PidsLimit"] == 200
    stats = json.loads(arts["docker/stats/payments-api.json"].data)
    assert stats["pids_stats"]["current"] == 196


async def test_containers_over_ssh_streamlocal(engine, host, tmp_path):
    # the lab's SSH user reaches the socket as a `docker` group member would
    engine.grant(host.user)
    _, store, svc = await service_for(
        tmp_path, [host], labels=f'{{ docker_socket = "{engine.socket}" }}')
    try:
        (h,) = svc.inventory.resolve([host.name])
        out = await svc.capture(h, collectors=["docker"])
        assert out.error is None, out.error
        v = out.snapshot
        (run,) = v.collectors
        assert run.status == "ok", (run.error, run.warnings)
        _check_what_users_see(v.parsed["docker"], v.finding_list, engine)
        _, raw = await store.get_artifact(v.id, "docker/inspect/cache-warmer.json")
        assert json.loads(raw)["HostConfig"]["Memory"] == 0
        assert any(a.name == "docker/stats/payments-api.json" for a in v.artifacts)
    finally:
        await store.close()


async def test_no_socket_is_skipped_with_the_reason(tmp_path):
    missing = tmp_path / "docker.sock"
    ctx = CollectContext(LocalSession(), HostInfo("localhost",
                                                  labels={"docker_socket": str(missing)}))
    r = await run_collector(DockerCollector(), ctx)
    assert r.status is Status.SKIPPED
    assert f"no Engine API socket at {missing}" in r.error
    assert not r.findings


async def test_dead_daemon_is_a_clear_failure(tmp_path):
    # incident 001: the socket file is there, the daemon behind it is gone
    stale = tmp_path / "docker.sock"
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(stale))
    s.close()
    ctx = CollectContext(LocalSession(), HostInfo("localhost",
                                                  labels={"docker_socket": str(stale)}))
    r = await run_collector(DockerCollector(), ctx)
    assert r.status is Status.FAILED
    assert f"cannot connect to {stale}" in r.error and "refused" in r.error.lower()
