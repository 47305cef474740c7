"""The goroutines collector against a real Go service (incident 004): one
sync.Mutex locked and never unlocked with thousands of goroutines waiting on it,
plus goroutines leaked on a channel, serving net/http/pprof on loopback only.

In a lab host the service listens on the host's 127.0.0.1, which this machine
cannot reach: the dump can only have come through the host (SSH direct-tcpip)."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

from collectors.base import CollectContext, HostInfo, Status
from collectors.godiscovery import Endpoint
from collectors.goroutines import GoroutinesCollector, fetch
from collectors.http1 import HTTPError
from collectors.runner import run_collector
from collectors.transport.local import LocalSession
from tests.conftest import skip_or_fail
from tests.integration.helpers import service_for

pytestmark = pytest.mark.root

# Standard library only. READY line: "<port> <address of the stuck mutex>".
GO_SERVICE = r"""
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"
)

// quoteBook is the push service's shared state; one path forgets to unlock it.
type quoteBook struct {
	mu     sync.Mutex
	quotes map[string]float64
}

func (b *quoteBook) update(sym string, early bool) {
	b.mu.Lock()
	if early {
		return // the bug of incident 004: no Unlock on this path
	}
	b.quotes[sym] = 1
	b.mu.Unlock()
}

func (b *quoteBook) push(sym string) float64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.quotes[sym]
}

// notifyAudit sends on a channel nobody reads: every call leaks a goroutine.
func notifyAudit(events chan<- string) { events <- "pushed" }

// spareThreads leaves n idle OS threads in the runtime, as a service that has seen
// load has: goroutines block in read(2) on pipes, the scheduler starts threads for
// the rest meanwhile, and once released those threads stay parked for reuse.
func spareThreads(n int) {
	var wg sync.WaitGroup
	pipes := make([][2]int, n)
	for i := range pipes {
		if err := syscall.Pipe(pipes[i][:]); err != nil {
			panic(err)
		}
		wg.Add(1)
		go func(fd int) {
			defer wg.Done()
			b := make([]byte, 1)
			_, _ = syscall.Read(fd, b)
		}(pipes[i][0])
	}
	time.Sleep(200 * time.Millisecond)
	for _, p := range pipes {
		_, _ = syscall.Write(p[1], []byte{1})
	}
	wg.Wait()
	for _, p := range pipes {
		_ = syscall.Close(p[0])
		_ = syscall.Close(p[1])
	}
}

func main() {
	waiters := flag.Int("waiters", 2500, "goroutines piling up on the mutex")
	leaks := flag.Int("leaks", 300, "goroutines leaked on a channel send")
	listen := flag.String("listen", "127.0.0.1:0", "pprof address")
	lifetime := flag.Duration("lifetime", 2*time.Minute, "exit after this long")
	spare := flag.Int("spare-threads", 0, "idle OS threads to keep (see spareThreads)")
	flag.Parse()
	spareThreads(*spare)

	book := &quoteBook{quotes: map[string]float64{}}
	book.update("init", true)
	for i := 0; i < *waiters; i++ {
		go book.push("AAPL")
	}
	events := make(chan string)
	for i := 0; i < *leaks; i++ {
		go notifyAudit(events)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	go func() { _ = http.Serve(ln, nil) }()
	for runtime.NumGoroutine() < *waiters+*leaks {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // let every waiter reach the semaphore
	fmt.Printf("READY %d %p\n", ln.Addr().(*net.TCPAddr).Port, &book.mu)
	time.Sleep(*lifetime)
}
"""


def _go_env(work: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GO")}
    env.update(GOCACHE=str(work / "cache"), GOPATH=str(work / "gopath"), GOPROXY="off",
               GOFLAGS="", GOTOOLCHAIN="local", GO111MODULE="on", HOME=str(work))
    return env


def _build(work: Path) -> Path:
    src = work / "src"
    src.mkdir(parents=True, exist_ok=True)
    (src / "go.mod").write_text("module hostsnap.test/gosvc\n\ngo 1.19\n")
    (src / "main.go").write_text(GO_SERVICE)
    out = work / "gosvc"
    # cgo left on: Go 1.19 ships the standard library prebuilt for it (1-2 s builds;
    # CGO_ENABLED=0 rebuilds net & co). A container gets the host's libc mounted.
    r = subprocess.run(["go", "build", "-o", str(out), "."], cwd=src, env=_go_env(work),
                       capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        pytest.fail(f"go build failed:\n{r.stderr}")
    return out


@pytest.fixture(scope="session")
def gosvc():
    """Built once per session, offline, into a world-traversable temp dir (the lab
    host's users run it from there)."""
    if shutil.which("go") is None:
        skip_or_fail("`go` not found (apt install golang-go)")
    work = Path(tempfile.mkdtemp(prefix="hostsnap-gosvc-"))
    work.chmod(0o755)
    yield _build(work)
    shutil.rmtree(work, ignore_errors=True)


class Service:
    def __init__(self, proc: subprocess.Popen[str], line: str) -> None:
        self.proc = proc
        _, port, addr = line.split()
        self.port = int(port)
        self.mutex = addr

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=10)


async def _ready(proc: subprocess.Popen[str]) -> Service:
    assert proc.stdout is not None
    try:
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 30)
    except TimeoutError:
        proc.kill()
        pytest.fail("the Go service did not start within 30 s")
    if not line.startswith("READY "):
        proc.kill()
        pytest.fail(f"the Go service said {line!r}: {proc.stderr.read() if proc.stderr else ''}")
    return Service(proc, line)


def _ns_pid(pid: int) -> int:
    """The pid as the lab host sees it (its own pid namespace)."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(ln for ln in status.splitlines() if ln.startswith("NSpid:")).split()[-1])


def _by_rule(findings, rule):
    return [f for f in findings if f.rule == rule]


async def test_mutex_pileup_captured_through_the_host(host, gosvc, tmp_path):
    # run by another user than hostsnap's SSH user, as services are: the labelled
    # endpoint needs no access to the process
    proc = host.spawn([str(gosvc), "-waiters", "2500", "-leaks", "300"], user="appuser",
                      text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    svc = await _ready(proc)
    try:
        # not reachable from here: it listens on the host's own loopback only
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((host.address, svc.port), timeout=2).close()
        endpoint = f"127.0.0.1:{svc.port}"
        _, store, capture = await service_for(tmp_path, [host],
                                              labels=f'{{ pprof = ["{endpoint}"] }}')
        try:
            (h,) = capture.inventory.resolve([host.name])
            v = (await capture.capture(h, collectors=["goroutines"])).snapshot
            (run,) = v.collectors
            assert run.status == "ok", (run.error, run.warnings)
            (ep,) = v.parsed["goroutines"]["endpoints"]
            assert ep["source"] == "label" and ep["format"] == "debug=2"
            # another user's process: discovery cannot read it, and says so
            assert ep["pid"] is None
            assert any("executables not readable" in n or "no Go process" in n
                       for n in v.parsed["goroutines"]["discovery"])

            (pile,) = _by_rule(v.finding_list, "GO_MUTEX_PILEUP")
            assert pile.severity == "critical"
            assert pile.data["waiters"] == 2500 and pile.data["address"] == svc.mutex
            assert pile.data["endpoint"] == endpoint
            assert pile.title.startswith(f"{endpoint}: 2 500 goroutines wait on mutex "
                                         f"{svc.mutex}")
            assert "main.(*quoteBook).push" in pile.title
            # the 300 blocked in chan send have waited seconds: no leak is proven yet
            # (this test used to expect GO_GOROUTINE_LEAK on them)
            assert _by_rule(v.finding_list, "GO_GOROUTINE_LEAK") == []
            assert v.parsed["goroutines"]["endpoints"][0]["summary"]["states"][
                "chan send"] == 300

            _, raw = await store.get_artifact(v.id, f"goroutines/127.0.0.1_{svc.port}.debug2.txt")
            assert raw.count(b"\ngoroutine ") >= 2800
            assert f"sync.(*Mutex).lockSlow({svc.mutex})".encode() in raw  # Go 1.19's frame
        finally:
            await store.close()
    finally:
        svc.stop()


async def test_go_listener_discovered_without_a_label(host, gosvc, tmp_path):
    # discovery reads /proc/<pid>/exe and fd: root's right, or the process's own user's
    proc = host.spawn([str(gosvc), "-waiters", "50", "-leaks", "0"], user=host.user,
                      text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    svc = await _ready(proc)
    try:
        _, store, capture = await service_for(tmp_path, [host])
        try:
            (h,) = capture.inventory.resolve([host.name])
            v = (await capture.capture(h, collectors=["goroutines"])).snapshot
            (run,) = v.collectors
            assert run.status == "ok", (run.error, run.warnings)
            (ep,) = v.parsed["goroutines"]["endpoints"]
            assert ep["source"] == "discovered" and ep["endpoint"] == f"127.0.0.1:{svc.port}"
            assert ep["pid"] == _ns_pid(proc.pid) and ep["process"] == "gosvc"
            (pile,) = _by_rule(v.finding_list, "GO_MUTEX_PILEUP")
            assert pile.data["waiters"] == 50 and pile.severity == "warning"
        finally:
            await store.close()
    finally:
        svc.stop()


async def test_dump_taken_from_a_host_at_its_pids_ceiling(host, gosvc, tmp_path):
    """The host can no longer fork (new ssh logins fail); through a session opened
    before, the dump still comes: direct-tcpip needs no process on the host.

    Measured here: the Go runtime needs a thread to answer. A service that has seen
    load keeps idle threads and answers at the ceiling; a fresh one with only its
    first 5 threads mostly hangs (no answer within the fetch timeout). So the
    service here is given the spare threads a loaded one has."""
    proc = host.spawn([str(gosvc), "-waiters", "2500", "-leaks", "0", "-spare-threads", "8"],
                      user="appuser", text=True, stdout=subprocess.PIPE,
                      stderr=subprocess.PIPE)
    svc = await _ready(proc)
    _, store, capture = await service_for(
        tmp_path, [host], labels=f'{{ pprof = ["127.0.0.1:{svc.port}"] }}')
    (h,) = capture.inventory.resolve([host.name])
    ws = capture.pool.warm(h)
    hog = None
    try:
        await asyncio.wait_for(ws.ready.wait(), 10)
        hog = host.fill_to_ceiling(name="partner-bridge")
        r = subprocess.run(host.ssh_argv("true"), capture_output=True, timeout=20)
        assert r.returncode != 0, "a new ssh login should fail at the ceiling"
        v = (await capture.capture(h, collectors=["goroutines"])).snapshot
        (run,) = v.collectors
        assert run.status == "ok", (run.error, run.warnings)
        (pile,) = _by_rule(v.finding_list, "GO_MUTEX_PILEUP")
        assert pile.data["waiters"] == 2500 and pile.data["address"] == svc.mutex
        assert proc.poll() is None, "the Go service survived the dump at the ceiling"
    finally:
        if hog:
            hog.stop()
        await capture.pool.close()
        await store.close()
        svc.stop()


async def _local_service(gosvc: Path, *args: str) -> Service:
    proc = subprocess.Popen([str(gosvc), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    return await _ready(proc)


async def test_over_the_size_cap_falls_back_to_debug1(gosvc):
    svc = await _local_service(gosvc, "-waiters", "2500", "-leaks", "300")
    try:
        ctx = CollectContext(LocalSession(), HostInfo("localhost", labels={
            "pprof": [f"127.0.0.1:{svc.port}"], "pprof_max_bytes": 200_000,
            "pprof_discover": False}))
        r = await run_collector(GoroutinesCollector(), ctx)
        assert r.status is Status.OK, (r.error, r.warnings)
        (ep,) = r.parsed["endpoints"]
        assert ep["format"] == "debug=1" and ep["debug2_truncated"] == "body cut at 200000 bytes"
        assert f"127.0.0.1:{svc.port}: debug=2 body cut at 200000 bytes; analyzed debug=1 " \
               "(aggregated stacks)" in r.warnings
        (pile,) = _by_rule(r.findings, "GO_MUTEX_PILEUP")
        assert pile.data["waiters"] == 2500  # counts survive aggregation, addresses do not
        arts = {a.name: a for a in r.artifacts}
        cut = arts[f"goroutines/127.0.0.1_{svc.port}.debug2.txt"]
        assert len(cut.data) == 200_000 and cut.meta["truncated"]
        assert arts[f"goroutines/127.0.0.1_{svc.port}.debug1.txt"].data.startswith(
            b"goroutine profile: total ")
    finally:
        svc.stop()


async def test_a_dump_that_trickles_is_kept_cut_at_the_time_limit(gosvc):
    """A service too busy to finish its dump: what came within fetch_timeout is
    stored and analyzed, the collector says why it is partial."""
    svc = await _local_service(gosvc, "-waiters", "2500", "-leaks", "0")
    try:
        ctx = CollectContext(LocalSession(), HostInfo("localhost", labels={
            "pprof": [f"127.0.0.1:{svc.port}"], "pprof_discover": False}))
        whole = (await run_collector(GoroutinesCollector(), ctx)).artifacts[0].data
    finally:
        svc.stop()
    half = whole[: len(whole) // 2]
    done = asyncio.Event()

    async def trickle(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n" % (len(half), half))
        await writer.drain()
        await done.wait()  # the rest never comes
        writer.close()

    server = await asyncio.start_server(trickle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        ctx = CollectContext(LocalSession(), HostInfo("localhost", labels={
            "pprof": [f"127.0.0.1:{port}"], "pprof_discover": False}),
            options={"goroutines": {"fetch_timeout": 1.0}})
        r = await run_collector(GoroutinesCollector(), ctx)
    finally:
        done.set()
        server.close()
    assert r.status is Status.PARTIAL and r.duration_s < 3
    assert f"127.0.0.1:{port}: time limit reached: {len(half)} bytes in 1.0s" in r.warnings
    (art,) = r.artifacts
    assert art.data == half and art.meta["truncated"].startswith("time limit")
    (pile,) = _by_rule(r.findings, "GO_MUTEX_PILEUP")
    assert 500 < pile.data["waiters"] < 2500  # what the first half shows


async def test_a_discovered_listener_that_speaks_first_is_not_sent_a_request():
    """NATS, SMTP, MySQL greet first: such a listener of a Go process is left alone."""
    received: list[bytes] = []

    async def nats(reader, writer):
        writer.write(b'INFO {"server_id":"x","version":"2.10.0"}\r\n')
        await writer.drain()
        received.append(await reader.read(100))  # b"" once we close
        writer.close()

    server = await asyncio.start_server(nats, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        ep = Endpoint("127.0.0.1", port, source="discovered")
        with pytest.raises(HTTPError, match="speaks first"):
            await fetch(LocalSession(), ep, 2, 1 << 20, 5, banner_wait=0.5)
        await asyncio.sleep(0.1)
    finally:
        server.close()
    assert received == [b""]


async def test_no_endpoint_is_skipped_and_a_dead_one_is_a_clear_failure(tmp_path):
    ctx = CollectContext(LocalSession(), HostInfo("localhost", labels={"pprof_discover": False}))
    r = await run_collector(GoroutinesCollector(), ctx)
    assert r.status is Status.SKIPPED and "no pprof endpoint" in r.error

    s = socket.socket()
    s.bind(("127.0.0.1", 0))  # a port that is certainly closed: bound, not listening
    port = s.getsockname()[1]
    try:
        ctx = CollectContext(LocalSession(), HostInfo("localhost", labels={
            "pprof": [f"127.0.0.1:{port}", "not an endpoint"], "pprof_discover": False}))
        r = await run_collector(GoroutinesCollector(), ctx)
    finally:
        s.close()
    assert r.status is Status.FAILED
    assert r.error.startswith(f"127.0.0.1:{port}: cannot connect to 127.0.0.1:{port}")
    assert "pprof label entry 'not an endpoint' is not host:port[/path]" in r.warnings


async def test_container_pprof_reached_at_its_bridge_address(gosvc, tmp_path):
    """Incident 004 as it happened: pprof not published, only the container's own
    address; discovery finds the Go process's listener in the container's network
    namespace and its address there (10.88.0.x), and the host dials it."""
    from tests.podman.service import Podman, unavailable_reason

    reason = unavailable_reason()
    if reason:
        skip_or_fail(reason)
    base = Path(tempfile.mkdtemp(prefix="hostsnap-podman-"))
    pm = Podman(base)
    try:
        await asyncio.to_thread(pm.start)
        await asyncio.to_thread(pm.build_image)
        await asyncio.to_thread(
            pm.run, "push-server", "--pids-limit", "4096", "-v", f"{gosvc}:/gosvc:ro",
            "-v", "/usr/lib/x86_64-linux-gnu:/lib/x86_64-linux-gnu:ro",
            "-v", "/usr/lib64:/lib64:ro",
            cmd=["/gosvc", "-listen", "0.0.0.0:9090", "-waiters", "1200", "-leaks", "0"])
        ip = pm.inspect("push-server", "{{.NetworkSettings.IPAddress}}")
        pid = int(pm.inspect("push-server", "{{.State.Pid}}"))
        r = None
        for _ in range(50):  # until the service listens
            ctx = CollectContext(LocalSession(), HostInfo("localhost"))
            r = await run_collector(GoroutinesCollector(), ctx)
            if any(f.rule == "GO_MUTEX_PILEUP" for f in r.findings):
                break
            await asyncio.sleep(0.2)
        assert r is not None
        eps = {e["endpoint"]: e for e in r.parsed["endpoints"]}
        ep = eps[f"{ip}:9090"]
        assert ep["source"] == "discovered" and ep["pid"] == pid and ep["format"] == "debug=2"
        (pile,) = [f for f in r.findings if f.rule == "GO_MUTEX_PILEUP"
                   and f.data["endpoint"] == f"{ip}:9090"]
        assert pile.data["waiters"] == 1200
        assert pile.title.startswith(f"gosvc pid {pid} ({ip}:9090): 1 200 goroutines")
    finally:
        await asyncio.to_thread(pm.destroy)


if __name__ == "__main__":  # build the service by hand: python -m tests.integration.test_goroutines
    print(_build(Path(tempfile.mkdtemp())))
