"""JVM thread dumps from real JVMs inside sshd test hosts, never killing them."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.capture.service import CaptureService
from collectors.jvm import JvmOptions
from tests.conftest import skip_or_fail
from tests.integration.helpers import service_for

pytestmark = pytest.mark.root
ROOT = Path(__file__).resolve().parents[2]
CP = ["/usr/share/java/httpclient.jar", "/usr/share/java/httpcore.jar",
      "/usr/share/java/commons-logging.jar"]


@pytest.fixture(scope="session")
def jvm_classes():
    if not shutil.which("javac") or not all(Path(j).exists() for j in CP):
        skip_or_fail("javac or libhttpclient-java missing (scripts/setup.sh installs them)")
    import tempfile

    # not under pytest's 0700 tmp root: the JVMs run as other users
    out = Path(tempfile.mkdtemp(prefix="hostsnap-jvm-"))
    srcs = [ROOT / "tests/workloads/jvm/Workload.java", ROOT / "tests/workloads/jvm/EvictorLeak.java",
            ROOT / "tests/integration/jvm/Sleepers.java"]
    subprocess.run(["javac", "-nowarn", "-cp", ":".join(CP), "-d", str(out), *map(str, srcs)],
                   check=True, capture_output=True)
    os.chmod(out, 0o755)
    for p in out.rglob("*"):
        os.chmod(p, 0o755 if p.is_dir() else 0o644)
    yield out
    shutil.rmtree(out, ignore_errors=True)


class Jvm:
    def __init__(self, host, classes: Path, main: str, *args: str, user: str = "snap",
                 stdout: Path) -> None:
        self.stdout_path = stdout
        self.log = open(stdout, "wb")
        os.chown(stdout, *_ids(user))
        self.proc = host.spawn(
            ["java", "-Xss256k", "-XX:+UseSerialGC", "-cp", f"{classes}:{':'.join(CP)}", main,
             *args], user=user, stdout=self.log, stderr=subprocess.STDOUT)

    def wait_ready(self, word: str, timeout: float = 30) -> None:
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if word.encode() in self.stdout_path.read_bytes():
                return
            assert self.proc.poll() is None, self.stdout_path.read_text()
            time.sleep(0.05)
        raise AssertionError(f"JVM not ready: {self.stdout_path.read_text()[-500:]}")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.log.close()


def _ids(user: str) -> tuple[int, int]:
    import pwd

    pw = pwd.getpwnam(user)
    return pw.pw_uid, pw.pw_gid


def _jvm_result(view):
    (c,) = [c for c in view.collectors if c.name == "jvm"]
    return c, view.parsed.get("jvm", {}).get("jvms", [])


async def _capture(svc: CaptureService, name: str, **kw):
    out = await svc.capture(svc.inventory.resolve([name])[0], collectors=["jvm", "limits"], **kw)
    assert out.error is None, out.error
    return out.snapshot


async def test_evictor_leak_dumped_through_attach_with_no_jdk_tool(host, tmp_path, jvm_classes):
    jvm = Jvm(host, jvm_classes, "EvictorLeak", "120", stdout=tmp_path / "evictor.out")
    try:
        jvm.wait_ready("READY")
        settings, store, svc = await service_for(tmp_path, [host])
        settings.jvm = JvmOptions(dumps=3, spacing=1.0, allow_jcmd=False)
        try:
            v = await _capture(svc, host.name)
            c, (j,) = _jvm_result(v)
            assert c.status == "ok", c.error
            assert [d["method"] for d in j["dumps"]] == ["attach"] * 3
            assert "started the Attach Listener with clear headroom" in j["dumps"][0]["why"]
            assert j["dumps"][1]["why"] == "Attach Listener already running"
            assert j["jdk"].startswith("17.")
            rules = {f.rule: f for f in v.finding_list}
            assert "HTTPCLIENT_EVICTOR_LEAK" in rules, [f.title for f in v.finding_list]
            assert "THREAD_GROWTH" in rules, [f.title for f in v.finding_list]
            _, raw = await store.get_artifact(v.id, f"jvm/{j['pid']}-dump1.txt")
            assert b'"Connection evictor"' in raw
            assert jvm.alive()

            # a second snapshot later: `hostsnap diff` shows the evictor pool growing
            from collectors.analysis.diff import diff_snapshots

            await asyncio.sleep(1.5)
            v2 = await _capture(svc, host.name)
            d = diff_snapshots(v, v2)
            (dc,) = d.dumps
            assert dc.subject == f"java pid {j['pid']}"
            ev = next(p for p in dc.diff.pools if p.name == "Connection evictor")
            assert ev.after > ev.before > 100 and ev.delta == ev.after - ev.before
            assert any(n.name == "threads (visible processes)" and n.after > n.before
                       for n in d.numbers)
        finally:
            await store.close()
    finally:
        jvm.stop()


async def test_jvm_at_its_ceiling_dumped_by_sigquit_and_survives(host, tmp_path, jvm_classes):
    """Never attached before, cgroup at pids.max: attaching would kill it."""
    jvm = Jvm(host, jvm_classes, "Sleepers", "400", stdout=tmp_path / "sleepers.out")
    hog = None
    try:
        jvm.wait_ready("ready")
        settings, store, svc = await service_for(tmp_path, [host])
        settings.jvm = JvmOptions(dumps=2, spacing=0.5, allow_jcmd=True)
        (h,) = svc.inventory.resolve([host.name])
        ws = svc.pool.warm(h)
        try:
            await asyncio.wait_for(ws.ready.wait(), 10)
            hog = host.fill_to_ceiling()
            v = await _capture(svc, host.name)
            c, (j,) = _jvm_result(v)
            assert c.status == "ok", c.error
            assert [d["method"] for d in j["dumps"]] == ["sigquit", "sigquit"], j
            assert "no Attach Listener and no headroom to start one" in j["dumps"][0]["why"]
            assert "TIGHT" in j["dumps"][0]["why"]
            _, raw = await store.get_artifact(v.id, f"jvm/{j['pid']}-dump1.txt")
            assert raw.count(b'"Connection evictor"') == 400  # the full dump
            assert b"Attach Listener" not in raw  # no trigger file, no listener
            assert not list(Path(f"/proc/{jvm.proc.pid}/cwd").glob(".attach_pid*"))
            await asyncio.sleep(0.5)
            assert jvm.alive(), jvm.stdout_path.read_text()[-2000:]
            # what the user reads: how each dump was taken, and why
            shown = await asyncio.to_thread(
                subprocess.run, [sys.executable, "-m", "bot", "show", v.id],
                env={**os.environ, "HOSTSNAP_DATABASE_URL": f"sqlite:///{tmp_path}/hs.db",
                     "COLUMNS": "250"},
                capture_output=True, text=True, timeout=60)
            assert shown.returncode == 0, shown.stderr
            assert "sigquit, sigquit" in shown.stdout
            assert "no Attach Listener and no headroom to start one" in shown.stdout
        finally:
            await svc.pool.close()
            await store.close()
    finally:
        if hog:
            hog.stop()
        jvm.stop()


async def test_jvm_armed_by_warm_session_attaches_at_the_ceiling(host, tmp_path, jvm_classes):
    jvm = Jvm(host, jvm_classes, "Sleepers", "300", stdout=tmp_path / "armed.out")
    hog = None
    try:
        jvm.wait_ready("ready")
        settings, store, svc = await service_for(tmp_path, [host])
        settings.jvm = JvmOptions(dumps=1, arm_in_watch=True, select=["Sleepers"])
        (h,) = svc.inventory.resolve([host.name])
        ws = svc.pool.warm(h)
        try:
            await asyncio.wait_for(ws.ready.wait(), 15)
            assert any("Attach Listener armed" in a for a in ws.armed), ws.armed
            hog = host.fill_to_ceiling()
            v = await _capture(svc, host.name)
            _, (j,) = _jvm_result(v)
            assert j["listener_before"] is True
            assert [d["method"] for d in j["dumps"]] == ["attach"]
            _, raw = await store.get_artifact(v.id, f"jvm/{j['pid']}-dump1.txt")
            assert raw.count(b'"Connection evictor"') == 300
            assert jvm.alive()
        finally:
            await svc.pool.close()
            await store.close()
    finally:
        if hog:
            hog.stop()
        jvm.stop()
