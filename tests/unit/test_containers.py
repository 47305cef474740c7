"""Container rules from Engine API JSON (docker- and podman-shaped), and the docker
collector's bounds in time and bytes against a fake daemon on a unix socket."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from collectors.analysis.containers import (
    container_findings,
    container_info,
    engine_of,
    summarize,
)
from collectors.analysis.thresholds import ContainerThresholds
from collectors.base import CollectContext, HostInfo, Status
from collectors.docker import DockerCollector, DockerOptions
from collectors.runner import run_collector
from collectors.transport.local import LocalSession

MiB = 1024 * 1024
T = ContainerThresholds()


def listing(cid: str, name: str, state: str = "running", created: int = 1700000000) -> dict:
    return {"Id": cid * 8, "Names": [f"/{name}"], "Image": "registry/app:1.4.2",
            "State": state, "Status": "Up 3 hours", "Created": created}


def inspect(cid: str, name: str, *, memory: int = 0, pids: int | None = None,
            oom: bool = False, restarts: int = 0, status: str = "running",
            exit_code: int = 0, pid: int = 4242) -> dict:
    return {
        "Id": cid * 8, "Name": f"/{name}", "RestartCount": restarts,
        "Config": {"Image": "registry/app:1.4.2"},
        "State": {"Status": status, "Running": status == "running",
                  "Restarting": status == "restarting", "OOMKilled": oom,
                  "Pid": pid if status == "running" else 0, "ExitCode": exit_code,
                  "StartedAt": "2024-05-01T10:00:00Z", "FinishedAt": "2024-05-01T11:00:00Z",
                  "Health": {"Status": "unhealthy", "FailingStreak": 4}},
        "HostConfig": {"Memory": memory, "PidsLimit": pids,
                       "RestartPolicy": {"Name": "always"}},
    }


def docker_stats(pids: int, usage: int, inactive_file: int = 0, *, v2: bool = False,
                 pids_limit: int | None = None) -> dict:
    mem_stats = {"inactive_file": inactive_file} if v2 else {"total_inactive_file": inactive_file}
    return {
        "pids_stats": {"current": pids, **({"limit": pids_limit} if pids_limit else {})},
        "memory_stats": {"usage": usage, "limit": 16 * 1024 * MiB, "stats": mem_stats},
        "cpu_stats": {"cpu_usage": {"total_usage": 3_000_000_000}, "online_cpus": 4,
                      "system_cpu_usage": 2_000_000_000_000},
        "precpu_stats": {"cpu_usage": {"total_usage": 2_000_000_000},
                         "system_cpu_usage": 1_990_000_000_000},
    }


def test_pids_at_the_limit_has_the_numbers_in_the_title():
    s = summarize([listing("a", "payments-api")],
                  {"a" * 8: inspect("a", "payments-api", memory=2048 * MiB, pids=2048)},
                  {"a" * 8: docker_stats(1998, 700 * MiB)})
    (f,) = container_findings(s, T)
    assert f.rule == "CONTAINER_NEAR_LIMIT" and f.subject == "payments-api"
    assert f.title == "payments-api: 1 998 of pids limit 2 048 threads (98%)"
    assert f.severity == "critical"
    assert f.data | {"used": 1998, "limit": 2048, "resource": "pids", "pid": 4242} == f.data


def test_memory_near_limit_excludes_reclaimable_page_cache():
    # 1.9 GiB used of which 600 MiB inactive file cache: 1.3 GiB of 2 GiB is not near
    cached = docker_stats(10, 1946 * MiB, inactive_file=600 * MiB)
    s = summarize([listing("b", "ledger")], {"b" * 8: inspect("b", "ledger", memory=2048 * MiB,
                                                               pids=100)}, {"b" * 8: cached})
    assert s.containers[0].memory_usage == 1346 * MiB
    assert container_findings(s, T) == []
    # cgroup v2 names it inactive_file; with little cache the container is near
    hot = docker_stats(10, 1946 * MiB, inactive_file=10 * MiB, v2=True)
    s = summarize([listing("b", "ledger")], {"b" * 8: inspect("b", "ledger", memory=2048 * MiB,
                                                               pids=100)}, {"b" * 8: hot})
    (f,) = container_findings(s, T)
    assert f.title == "ledger: memory 1.9 GiB of limit 2.0 GiB (95%)"
    assert f.severity == "warning"


def test_no_limit_is_one_finding_naming_every_bare_container():
    names = ["cache-warmer", "report-batch", "ledger", "old-job"]
    lst = [listing(c, n) for c, n in zip("abcd", names, strict=True)]
    lst[3]["State"] = "exited"
    ins = {
        "a" * 8: inspect("a", "cache-warmer"),  # nothing
        "b" * 8: inspect("b", "report-batch", pids=500),  # no memory limit
        "c" * 8: inspect("c", "ledger", memory=64 * MiB, pids=-1),  # docker's "unlimited"
        "d" * 8: inspect("d", "old-job", status="exited"),  # not running: not counted
    }
    (f,) = container_findings(summarize(lst, ins, {}), T)
    assert f.rule == "CONTAINER_NO_LIMIT" and f.severity == "warning"
    assert f.title == ("3 of 3 running containers without a limit: cache-warmer (memory, "
                       "pids), ledger (pids), report-batch (memory)")
    assert f.data["no_memory_limit"] == ["cache-warmer", "report-batch"]
    assert f.data["no_pids_limit"] == ["cache-warmer", "ledger"]


def test_oom_killed_and_restarting_containers():
    lst = [listing("a", "push-gateway", state="exited"), listing("b", "worker")]
    ins = {"a" * 8: inspect("a", "push-gateway", memory=512 * MiB, pids=100, oom=True,
                            restarts=5, status="exited", exit_code=137),
           "b" * 8: inspect("b", "worker", memory=64 * MiB, pids=100, restarts=1,
                            status="restarting", exit_code=1)}
    found = {(f.rule, f.subject): f for f in container_findings(summarize(lst, ins, {}), T)}
    oom = found["OOM_KILL", "container push-gateway"]
    assert oom.title == ("container push-gateway was OOM-killed (memory limit 512.0 MiB, "
                         "exit code 137, restarted 5 times)")
    assert oom.severity == "critical"
    assert found["CONTAINER_RESTARTING", "push-gateway"].data["restart_count"] == 5
    worker = found["CONTAINER_RESTARTING", "worker"]
    assert worker.title == "worker: restarting now, 1 restarts, last exit code 1, health unhealthy"


def test_pids_limit_from_docker_stats_and_cpu_percent():
    c = container_info(listing("a", "api"), inspect("a", "api", memory=MiB, pids=0),
                       docker_stats(12, MiB // 2, pids_limit=4096))
    assert c.pids_limit == 4096  # the cgroup has one although HostConfig says none
    assert c.cpu_percent == 40.0  # 1 s of CPU over 10 s of 4 CPUs' system time... x4
    huge = docker_stats(12, 10, pids_limit=2**64 - 1)  # cgroup "max"
    assert container_info(listing("a", "api"), inspect("a", "api"), huge).pids_limit is None


def test_engine_from_ping_headers_and_garbage_tolerated():
    assert engine_of({"server": "Libpod/4.3.1 (linux)", "api-version": "1.41"}) == (
        "Podman 4.3.1", "1.41")
    assert engine_of({"server": "Docker/24.0.7 (linux)"}) == ("Docker 24.0.7", "")
    junk: dict[str, Any] = {"Id": 7, "State": ["x"], "HostConfig": "no", "RestartCount": "9"}
    s = summarize([{"Id": "z" * 64, "Names": None}, "not a dict"],  # type: ignore[list-item]
                  {"z" * 64: junk}, {"z" * 64: {"pids_stats": "?", "memory_stats": None}})
    (c,) = s.containers
    assert c.name == "z" * 12 and c.pids_limit is None and c.pids_current is None


# -- the collector against a fake daemon: bounded in time and bytes -------------------------

class FakeEngine:
    """Answers like dockerd; `hang` paths never answer, `huge` ones are too big."""

    def __init__(self, containers: int, hang: set[str] = frozenset(), huge: set[str] = frozenset()):
        self.ids = [f"{i:02d}" * 32 for i in range(containers)]
        self.hang, self.huge = hang, huge
        self.requests: list[str] = []

    def _doc(self, path: str) -> Any:
        if path.startswith("/containers/json"):
            return [{"Id": cid, "Names": [f"/svc-{cid[:2]}"], "State": "running",
                     "Created": 1} for cid in self.ids]
        cid = path.split("/")[2]
        if "/stats" in path:
            return docker_stats(5, MiB)
        return inspect("x", f"svc-{cid[:2]}", memory=64 * MiB, pids=100) | {"Id": cid}

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        path = head.split(b" ")[1].decode()
        self.requests.append(path)
        if any(h in path for h in self.hang):
            await asyncio.sleep(3600)
        if path == "/_ping":
            body = b"OK"
        else:
            body = json.dumps(self._doc(path)).encode()
            if any(h in path for h in self.huge):
                body = body[:-1] + b" " * (3 * MiB) + b"}"
        writer.write(b"HTTP/1.1 200 OK\r\nServer: Docker/24.0.7 (linux)\r\nApi-Version: 1.43"
                     b"\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                     % (len(body), body))
        await writer.drain()
        writer.close()


@pytest.fixture
async def fake_engine(tmp_path):
    servers = []

    async def start(engine: FakeEngine) -> str:
        path = str(tmp_path / "docker.sock")
        servers.append(await asyncio.start_unix_server(engine.handle, path))
        return path

    yield start
    for s in servers:
        s.close()


async def test_slow_and_oversized_answers_leave_partial_evidence(fake_engine):
    # svc-01's stats never come; svc-02's inspect is over the byte cap
    engine = FakeEngine(4, hang={f"/containers/{'01' * 32}/stats"},
                        huge={f"/containers/{'02' * 32}/json"})
    path = await fake_engine(engine)
    ctx = CollectContext(LocalSession(), HostInfo("h", labels={"docker_socket": path}),
                         options={"docker": DockerOptions(request_timeout=0.5, budget=5)})
    r = await asyncio.wait_for(run_collector(DockerCollector(), ctx), 5)
    assert r.status is Status.PARTIAL
    assert r.duration_s < 2  # the request timeout, not the collector's
    assert r.parsed["engine"] == "Docker 24.0.7" and r.parsed["total"] == 4
    by_name = {c["name"]: c for c in r.parsed["containers"]}
    assert by_name["svc-01"]["has_stats"] is False and by_name["svc-01"]["inspected"] is True
    assert by_name["svc-02"]["inspected"] is False and by_name["svc-02"]["has_stats"] is True
    assert by_name["svc-03"]["pids_current"] == 5 and by_name["svc-03"]["pids_limit"] == 100
    (w,) = [w for w in r.warnings if "requests failed" in w]
    assert "stats svc-01: no answer within 0.5s" in w
    assert "inspect svc-02" in w and "cut at 2097152" in w
    names = {a.name for a in r.artifacts}
    assert "docker/inspect/svc-00.json" in names and "docker/inspect/svc-02.json" not in names


async def test_container_count_is_bounded(fake_engine):
    engine = FakeEngine(30)
    path = await fake_engine(engine)
    ctx = CollectContext(LocalSession(), HostInfo("h", labels={"docker_socket": path}),
                         options={"docker": {"max_containers": 10}})
    r = await run_collector(DockerCollector(), ctx)
    assert r.parsed["total"] == 30 and r.parsed["not_inspected"] == 20
    assert sum(1 for p in engine.requests if p.endswith("/json") and "/containers/" in p
               and not p.startswith("/containers/json")) == 10
    assert "30 containers listed, 10 inspected (max_containers)" in r.warnings
