"""Podman's Docker-compatible Engine API for tests, owned by the test.

- storage (vfs), run root and tmp dir live under the given directory, so tests
  depend on no image or container of this machine and leave none behind;
- CONTAINERS_CONF selects runc and cgroupfs and sets default ulimits, because
  this sandbox lacks CAP_SYS_RESOURCE and is cgroup-hybrid (DESIGN.md, Test hosts);
- no registry is reachable: the image is `podman import` of a rootfs holding
  Debian's busybox-static;
- the service is started and stopped by its PID; containers are removed by name
  through the same podman (same storage), never by pattern.
"""

from __future__ import annotations

import contextlib
import grp
import io
import os
import shutil
import signal
import socket
import subprocess
import tarfile
import time
from collections.abc import Callable
from pathlib import Path

BUSYBOX = Path("/bin/busybox")
IMAGE = "localhost/hostsnap-busybox:test"
APPLETS = ("sh", "sleep", "dd", "cat", "awk", "ls")

CONTAINERS_CONF = """\
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1000:1000"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = "{tmp}"
"""

STORAGE_CONF = """\
[storage]
driver = "vfs"
graphroot = "{root}"
runroot = "{runroot}"
"""


def unavailable_reason() -> str | None:
    if os.geteuid() != 0:
        return "podman tests need root (cgroupfs limits, bridge network)"
    for tool in ("podman", "runc", "conmon"):
        if shutil.which(tool) is None and not Path(f"/usr/libexec/podman/{tool}").exists():
            return f"`{tool}` not found (apt install podman runc)"
    if not BUSYBOX.exists():
        return f"{BUSYBOX} not found (apt install busybox-static)"
    return None


class PodmanError(RuntimeError):
    pass


class Podman:
    def __init__(self, base: Path) -> None:
        self.base = base
        # the socket's directory is traversable by the lab's SSH user; storage is not
        base.mkdir(parents=True, exist_ok=True)
        base.chmod(0o711)
        state = base / "state"
        state.mkdir(mode=0o700, exist_ok=True)
        self.socket = base / "podman.sock"
        (state / "tmp").mkdir(exist_ok=True)
        conf = state / "containers.conf"
        conf.write_text(CONTAINERS_CONF.format(tmp=state / "tmp"))
        storage = state / "storage.conf"
        storage.write_text(STORAGE_CONF.format(root=state / "root", runroot=state / "run"))
        self.env = {**os.environ, "CONTAINERS_CONF": str(conf),
                    "CONTAINERS_STORAGE_CONF": str(storage)}
        self.log = state / "service.log"
        self._service: subprocess.Popen[bytes] | None = None
        self._containers: list[str] = []

    # -- CLI and service --------------------------------------------------------

    def cli(self, *args: str, timeout: float = 60,
            check: bool = True) -> subprocess.CompletedProcess[str]:
        r = subprocess.run(["podman", *args], env=self.env, capture_output=True, text=True,
                           timeout=timeout, stdin=subprocess.DEVNULL)
        if check and r.returncode != 0:
            raise PodmanError(f"podman {' '.join(args)} exited {r.returncode}: {r.stderr}")
        return r

    def start(self, timeout: float = 20) -> None:
        with open(self.log, "wb") as log:
            self._service = subprocess.Popen(
                ["podman", "system", "service", "--time=0", f"unix://{self.socket}"],
                env=self.env, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._service.poll() is not None:
                raise PodmanError(f"podman system service exited: {self.log.read_text()}")
            if self._pings():
                return
            time.sleep(0.05)
        raise PodmanError(f"no answer on {self.socket} after {timeout}s: {self.log.read_text()}")

    def _pings(self) -> bool:
        if not self.socket.exists():
            return False
        with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX) as s:
            s.settimeout(2)
            s.connect(str(self.socket))
            s.sendall(b"GET /_ping HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n")
            return s.recv(64).startswith(b"HTTP/1.1 200")
        return False

    def grant(self, user: str) -> None:
        """Let `user` use the socket as a member of its group would (cf. `docker` group)."""
        import pwd

        gid = pwd.getpwnam(user).pw_gid
        os.chown(self.socket, 0, gid)
        self.socket.chmod(0o660)
        grp.getgrgid(gid)  # raises if the group vanished

    def close(self) -> None:
        errors: list[str] = []
        for _ in range(10):
            if not self._containers:
                break
            # a container between two restarts refuses removal ("state improper"):
            # try again for those still there
            r = self.cli("rm", "--force", "--time", "0", *self._containers, check=False,
                         timeout=120)
            if r.returncode == 0:
                self._containers.clear()
                break
            errors = [r.stderr]
            left = set(self.cli("ps", "--all", "--format", "{{.Names}}").stdout.split())
            self._containers = [n for n in self._containers if n in left]
            time.sleep(0.3)
        else:
            errors.append(f"containers not removed: {self._containers}")
        if not self._containers:
            errors.clear()
        p = self._service
        if p is not None and p.poll() is None:
            os.kill(p.pid, signal.SIGTERM)
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
                p.wait(timeout=10)
        if errors:
            raise PodmanError("; ".join(errors))

    def destroy(self) -> None:
        """close(), then delete the directory with storage and socket. Podman's
        `container cleanup` helpers (started by conmon, not ours to kill) may still
        write there for a moment, so removal is retried."""
        try:
            self.close()
        finally:
            for _ in range(20):
                shutil.rmtree(self.base, ignore_errors=True)
                if not self.base.exists():
                    break
                time.sleep(0.25)

    # -- image and containers ---------------------------------------------------

    def build_image(self) -> str:
        """`podman import` of a rootfs with busybox and applet symlinks."""
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for d in ("bin", "tmp", "proc", "sys", "dev", "etc"):
                info = tarfile.TarInfo(d)
                info.type, info.mode = tarfile.DIRTYPE, 0o1777 if d == "tmp" else 0o755
                tar.addfile(info)
            tar.add(BUSYBOX, "bin/busybox")
            for a in APPLETS:
                info = tarfile.TarInfo(f"bin/{a}")
                info.type, info.linkname = tarfile.SYMTYPE, "busybox"
                tar.addfile(info)
        rootfs = self.base / "state" / "rootfs.tar"
        rootfs.write_bytes(buf.getvalue())
        self.cli("import", "--quiet", str(rootfs), IMAGE)
        return IMAGE

    def run(self, name: str, *options: str, cmd: list[str]) -> str:
        """`podman run -d` of IMAGE; removed again by close()."""
        self._containers.append(name)
        return self.cli("run", "-d", "--name", name, *options, IMAGE, *cmd).stdout.strip()

    def inspect(self, name: str, fmt: str) -> str:
        return self.cli("inspect", "--format", fmt, name).stdout.strip()

    def cgroup_value(self, name: str, controller: str, leaf: str) -> int:
        """A cgroup v1 file of the container (pids.current, memory.usage_in_bytes)."""
        pid = int(self.inspect(name, "{{.State.Pid}}"))
        for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            if controller in controllers.split(","):
                return int(Path(f"/sys/fs/cgroup/{controller}{path}/{leaf}").read_text())
        raise PodmanError(f"{name}: no {controller} cgroup")

    def pids_current(self, name: str) -> int:
        return self.cgroup_value(name, "pids", "pids.current")

    def wait_for(self, what: str, predicate: Callable[[], bool], timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise PodmanError(f"timed out waiting for {what}")
            time.sleep(0.1)
