"""The test-host lab: real sshd test hosts in network namespaces.

One `Lab` per test session. It owns, on this machine:

- a bridge `hsnap0` with 10.213.0.1/24 in the root network namespace;
- per host: a network namespace `hsnap0-NAME`, a veth pair (`hsnap0vN` on the
  bridge, `eth0` inside with 10.213.0.N/24 and a MAC fixed per address), a pids
  cgroup (v1) `/sys/fs/cgroup/pids/hostsnap-lab/NAME`, and one sshd that is pid 1
  of the host's own pid namespace, with its own hostname (UTS namespace) and its
  own /proc (mount namespace) - but the machine's /sys, so cgroup files are readable;
- `/run/hostsnap-lab/lab0/` (world-readable: the authorized_keys file that sshd
  reads as the login user, and copies of the workload scripts that run as `appuser`);
- an exclusive lock `/run/hostsnap-lab/lab0.lock`, held while the lab lives. A
  second lab on the machine waits for it (bounded); once it has the lock, anything
  carrying these names is a leftover of a crashed run and is torn down first.

Everything the lab starts runs in the host's cgroup (sshd and its descendants,
everything `spawn()` starts), so clean-up kills exactly those pids, read from
the lab's own cgroups; nothing is killed by name.

Only loopback inside a host and the lab's own 10.213.0.0/24 addresses are used.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import fcntl
import os
import pwd
import re
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

__all__ = ["Lab", "LabError", "LabUnavailable", "TestHost", "Workload", "unavailable_reason"]

USER = "snap"
APP_USER = "appuser"
RUN_DIR = Path("/run/hostsnap-lab")
PIDS_ROOT = Path("/sys/fs/cgroup/pids")
SSHD = "/usr/sbin/sshd"
WORKLOADS = Path(__file__).resolve().parent / "workloads"
# slots 10..249 of the /24: room for a 100-host fleet (benchmarks/bench_fleet.py)
FIRST_SLOT, MAX_HOSTS = 10, 240
SYS_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

_libc = ctypes.CDLL(None, use_errno=True)
_setns = _libc.setns
_unshare = _libc.unshare
_sethostname = _libc.sethostname


class LabUnavailable(RuntimeError):
    """This machine cannot run the lab (not root, no network namespaces, no sshd...)."""


class LabError(RuntimeError):
    """A lab operation failed (the message carries the relevant log lines)."""


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _sh(argv: list[str], *, input: str | None = None, timeout: float = 20,
        check: bool = True) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout,
                       stdin=None if input is not None else subprocess.DEVNULL)
    if check and r.returncode != 0:
        raise LabError(f"{' '.join(argv)} exited {r.returncode}: {r.stderr.strip()}"
                       + (f"\ninput:\n{input}" if input else ""))
    return r


def _python() -> str:
    """An interpreter every user can run (the venv may live under /root)."""
    for p in ("/usr/bin/python3", os.path.realpath(sys.executable)):
        if os.access(p, os.X_OK):
            return p
    return sys.executable


def unavailable_reason() -> str | None:
    """Why a lab cannot run here, or None."""
    if sys.platform != "linux":
        return "the lab needs Linux"
    if os.geteuid() != 0:
        return "the lab needs root (network namespaces, cgroups, sshd)"
    for tool in ("ip", "unshare", "ssh", "ssh-keygen", "useradd", "usermod"):
        if shutil.which(tool, path=SYS_PATH) is None:
            return f"`{tool}` not found"
    if not os.access(SSHD, os.X_OK):
        return f"{SSHD} not found (openssh-server)"
    if not (PIDS_ROOT / "cgroup.procs").exists():
        return f"cgroup v1 pids controller not mounted at {PIDS_ROOT}"
    try:
        r = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"`ip netns` unusable: {e}"
    if r.returncode != 0:
        return f"`ip netns` unusable: {r.stderr.strip()}"
    return None


def _read_pids(procs_file: Path) -> list[int]:
    try:
        return [int(x) for x in procs_file.read_text().split()]
    except (FileNotFoundError, ProcessLookupError):
        return []


def _kill_cgroup_tree(root: Path, *, timeout: float = 10) -> None:
    """SIGKILL every process in `root` and its child cgroups until they are empty,
    then remove the child cgroups and `root`. Only the lab's own cgroups are passed here."""
    if not root.is_dir():
        return
    dirs = sorted((d for d in root.rglob("*") if d.is_dir()), key=lambda d: -len(d.parts))
    dirs.append(root)
    deadline = time.monotonic() + timeout
    while True:
        alive = [pid for d in dirs for pid in _read_pids(d / "cgroup.procs")]
        if not alive:
            break
        if time.monotonic() > deadline:
            raise LabError(f"processes in {root} survive SIGKILL: {alive[:20]}")
        for pid in alive:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.01)
    for d in dirs:
        for _ in range(200):  # exiting tasks may hold the cgroup a moment longer
            try:
                d.rmdir()
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.01)
        else:
            raise LabError(f"cannot remove cgroup {d}")


def _pid_in_ns(pid: int) -> int:
    """The pid of root-namespace `pid` inside its own (innermost) pid namespace."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("NSpid:"):
            return int(line.split()[-1])
    raise LabError(f"no NSpid for pid {pid}")


def _ppid(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
        return None


def _threads_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return 0


def _read_line(proc: subprocess.Popen[bytes], timeout: float) -> str:
    """One line from proc.stdout within `timeout`, or "" if it exited / timed out."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    buf = b""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0 or not sel.select(left):
                break
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            buf += chunk
    return buf.decode(errors="replace").strip()


class Workload:
    """A process running inside a test host (a thread hog)."""

    def __init__(self, proc: subprocess.Popen[bytes], host: TestHost, name: str) -> None:
        self.proc = proc
        self.host = host
        self.name = name
        self.pid: int = proc.pid  # in the root pid namespace
        self.host_pid: int = _pid_in_ns(proc.pid)  # inside the host
        self.threads: int = _threads_of(proc.pid)

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=15)
        if self.proc.stdout:
            self.proc.stdout.close()
        with contextlib.suppress(ValueError):
            self.host._procs.remove(self.proc)

    def __enter__(self) -> Workload:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return (f"Workload({self.name!r}, pid={self.pid}, host_pid={self.host_pid}, "
                f"threads={self.threads}, host={self.host.name!r})")


class TestHost:
    """One sshd test host. Created by `Lab.add_host`, never directly."""

    __test__ = False  # not a pytest test class

    def __init__(self, lab: Lab, name: str, slot: int, hostname: str) -> None:
        self.lab = lab
        self.name = name
        self.hostname = hostname
        self.slot = slot
        self.ns = f"{lab.ns_prefix}{name}"
        self.veth = f"{lab.veth_prefix}{slot}"
        self.mac = f"02:13:{lab.index:02x}:00:00:{slot:02x}"
        self.address = f"{lab.net}.{slot}"
        self.port = 22
        self.user = USER
        self.key_file: Path = lab.key_file
        self.dir = lab.workdir / "hosts" / name
        self.known_hosts_file = self.dir / "known_hosts"
        self.host_key = self.dir / "ssh_host_ed25519_key"
        self.sshd_config = self.dir / "sshd_config"
        self.sshd_log = self.dir / "sshd.log"
        self.cgroup_dir: Path = lab.cgroup_root / name
        self.host_key_pub = ""  # the key sshd serves now
        self.known_key = ""  # the key in the known_hosts files (stays old after rotation)
        self.sshd_pid = 0
        self._unshare: subprocess.Popen[bytes] | None = None
        self._procs: list[subprocess.Popen[Any]] = []
        self.removed = False

    def __repr__(self) -> str:
        return f"TestHost({self.name!r}, {self.address}, sshd_pid={self.sshd_pid})"

    # -- start / stop ---------------------------------------------------------

    def _start(self, pids_max: int | None) -> None:
        lab = self.lab
        self.dir.mkdir(parents=True, exist_ok=True)
        for p in (self.host_key, self.host_key.with_suffix(".pub")):
            p.unlink(missing_ok=True)
        _sh(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{self.name}-host",
             "-f", str(self.host_key)])
        self.host_key_pub = self._pub_key()
        self.sshd_config.write_text(
            f"""# hostsnap lab host {self.name}
ListenAddress {self.address}
Port 22
HostKey {self.host_key}
PidFile {self.dir / "sshd.pid"}
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
AuthorizedKeysFile {lab.authorized_keys}
StrictModes no
PermitRootLogin no
UseDNS no
PrintMotd no
PrintLastLog no
X11Forwarding no
AllowTcpForwarding yes
AllowStreamLocalForwarding yes
Subsystem sftp internal-sftp
MaxSessions 64
MaxStartups 200:30:400
LogLevel INFO
""")
        self.cgroup_dir.mkdir()
        # the network: namespace, veth pair (inside end named eth0, fixed MAC so
        # the root namespace's ARP entry stays right when an address is reused)
        _sh(["ip", "-batch", "-"], input=(
            f"netns add {self.ns}\n"
            f"link add {self.veth} type veth peer name eth0 address {self.mac} netns {self.ns}\n"
            f"link set {self.veth} master {lab.bridge} up\n"))
        _sh(["ip", "-n", self.ns, "-batch", "-"], input=(
            f"addr add {self.address}/24 dev eth0\n"
            "link set eth0 up\n"
            "link set lo up\n"))

        # sshd: pid 1 of a new pid namespace (unshare --fork), own mount ns with
        # its /proc, own UTS ns with the hostname, in the host's net ns and cgroup.
        net_fd = os.open(f"/run/netns/{self.ns}", os.O_RDONLY)
        procs = str(self.cgroup_dir / "cgroup.procs")
        hostname = self.hostname.encode()

        def enter() -> None:  # runs in the child between fork and exec
            fd = os.open(procs, os.O_WRONLY)
            os.write(fd, b"0")
            os.close(fd)
            _check(_setns(net_fd, CLONE_NEWNET), "setns net")
            _check(_unshare(CLONE_NEWUTS), "unshare uts")
            _check(_sethostname(hostname, len(hostname)), "sethostname")

        log = open(self.sshd_log, "wb")  # handed to the child, closed below
        try:
            self._unshare = subprocess.Popen(
                ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child", "--",
                 SSHD, "-D", "-e", "-f", str(self.sshd_config)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, preexec_fn=enter,
                start_new_session=True, env={"PATH": SYS_PATH, "LANG": "C"})
        finally:
            log.close()
            os.close(net_fd)
        # sshd was forked by `unshare` inside the cgroup; move `unshare` itself back
        # out: only sshd and what it starts are the host
        self.sshd_pid = self._child_of(self._unshare)
        with contextlib.suppress(OSError):
            (lab.own_cgroup / "cgroup.procs").write_text(str(self._unshare.pid))
        if self.sshd_pid not in _read_pids(self.cgroup_dir / "cgroup.procs"):
            raise LabError(f"sshd of {self.name} (pid {self.sshd_pid}) is not in {self.cgroup_dir}")
        self._wait_listening(1)
        if pids_max is not None:
            self.set_pids_max(pids_max)
        self.known_key = self.host_key_pub
        self.known_hosts_file.write_text(f"{self.address} {self.known_key}\n")

    def _child_of(self, proc: subprocess.Popen[bytes]) -> int:
        path = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                kids = path.read_text().split()
                if kids:
                    return int(kids[0])
            if proc.poll() is not None:
                break
            time.sleep(0.001)
        raise LabError(f"sshd of {self.name} did not start\n{self.log_tail()}")

    def _wait_listening(self, times: int) -> None:
        """Wait until sshd logged "Server listening" `times` times (bounded)."""
        marker = f"Server listening on {self.address} port 22."
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.sshd_log.read_text(errors="replace").count(marker) >= times:
                return
            if self._unshare is None or self._unshare.poll() is not None:
                raise LabError(f"sshd of {self.name} exited\n{self.log_tail()}")
            time.sleep(0.002)
        raise LabError(f"sshd of {self.name} not listening after 10 s\n{self.log_tail()}")

    def _pub_key(self) -> str:
        kind, b64, *_ = self.host_key.with_suffix(".pub").read_text().split()
        return f"{kind} {b64}"

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.sshd_log.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return f"(no sshd log at {self.sshd_log})"
        return f"--- {self.sshd_log} (last {lines} lines) ---\n" + "\n".join(text[-lines:])

    def _stop(self) -> None:
        """Kill everything this host runs, delete its netns, veth and cgroup."""
        if self.removed:
            return
        self.removed = True
        errors: list[str] = []
        for p in self._procs:
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    p.kill()
        u = self._unshare
        if u is not None and u.poll() is None and self.sshd_pid:
            # sshd is pid 1 of the host's pid namespace: killing it kills the whole
            # namespace. Its pid is ours while our `unshare` child is alive (unshare
            # reaps it, then exits).
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.sshd_pid, signal.SIGKILL)
        # reap what we spawned first: the namespace's pid 1 exits only once they are
        for p in [*self._procs, *([u] if u else [])]:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()  # `unshare --kill-child` takes sshd with it
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    errors.append(f"pid {p.pid} did not exit")
            for f in (p.stdin, p.stdout, p.stderr):
                if f:
                    with contextlib.suppress(OSError):
                        f.close()
        self._procs.clear()
        try:
            _kill_cgroup_tree(self.cgroup_dir)
        except LabError as e:
            errors.append(str(e))
        r = _sh(["ip", "-force", "-batch", "-"], check=False,
                input=f"link del {self.veth}\nnetns del {self.ns}\n")
        if r.returncode != 0 and "Cannot find device" not in r.stderr:
            errors.append(r.stderr.strip())
        if errors:
            raise LabError(f"removing host {self.name}: " + "; ".join(errors))

    def drop_connections(self) -> int:
        """SIGKILL every process of this host but its listening sshd and what
        spawn() started: each SSH connection's sshd, shell, sftp-server. The TCP
        connections end (the kernel closes the sockets). Returns how many died."""
        pids = _read_pids(self.cgroup_dir / "cgroup.procs")
        parent = {pid: _ppid(pid) for pid in pids}
        spawned = {p.pid for p in self._procs}

        def under_sshd(pid: int) -> bool:  # not below a spawn()ed process
            for _ in range(64):
                if pid in spawned:
                    return False
                ppid = parent.get(pid)
                if ppid == self.sshd_pid:
                    return True
                if ppid is None:
                    return False
                pid = ppid
            return False

        victims = [pid for pid in pids if pid != self.sshd_pid and under_sshd(pid)]
        for pid in victims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return len(victims)

    # -- running things inside the host --------------------------------------

    def spawn(self, argv: list[str], *, user: str | None = None, stdout: Any = None,
              stderr: Any = None, env: dict[str, str] | None = None,
              stdin: Any = subprocess.DEVNULL, cwd: str | None = None,
              text: bool = False) -> subprocess.Popen[Any]:
        """Start argv INSIDE the host: its net, pid, uts and mount namespaces and its
        pids cgroup, as `user` (default root). The returned Popen is the process
        itself (pid in the root namespace; `kill()` kills it; it is our child).

        cwd defaults to the caller's for root, to the user's home for other users
        (e.g. a JVM's attach trigger file goes into its cwd)."""
        if self.removed or self._unshare is None or self._unshare.poll() is not None:
            raise LabError(f"host {self.name} is not running\n{self.log_tail()}")
        ids: tuple[int, int, list[int]] | None = None
        run_env = dict(os.environ if env is None else env)
        if user is not None and user != "root":
            pw = pwd.getpwnam(user)
            ids = (pw.pw_uid, pw.pw_gid, os.getgrouplist(user, pw.pw_gid))
            run_env.update(HOME=pw.pw_dir, USER=user, LOGNAME=user, SHELL=pw.pw_shell)
            if cwd is None:
                cwd = pw.pw_dir if os.path.isdir(pw.pw_dir) else "/"
        wd = cwd if cwd is not None else os.getcwd()
        procs = str(self.cgroup_dir / "cgroup.procs")
        fds = {kind: os.open(f"/proc/{self.sshd_pid}/ns/{kind}", os.O_RDONLY)
               for kind in ("net", "uts", "mnt", "pid")}

        def enter() -> None:  # in the child, between fork and exec
            fd = os.open(procs, os.O_WRONLY)
            os.write(fd, b"0")  # join the host's pids cgroup (migration is never refused)
            os.close(fd)
            _check(_setns(fds["net"], CLONE_NEWNET), "setns net")
            _check(_setns(fds["uts"], CLONE_NEWUTS), "setns uts")
            _check(_setns(fds["mnt"], CLONE_NEWNS), "setns mnt")
            os.chdir(wd)
            if ids is not None:
                os.setgroups(ids[2])
                os.setgid(ids[1])
                os.setuid(ids[0])

        # The pid namespace for children is per thread: switch this thread's, fork
        # (the child is born inside the host's pid namespace), switch back.
        own = os.open("/proc/self/ns/pid", os.O_RDONLY)
        try:
            _check(_setns(fds["pid"], CLONE_NEWPID), "setns pid")
            try:
                p = subprocess.Popen(argv, stdin=stdin, stdout=stdout, stderr=stderr,
                                     env=run_env, preexec_fn=enter, text=text)
            finally:
                _check(_setns(own, CLONE_NEWPID), "setns pid back")
        finally:
            os.close(own)
            for fd in fds.values():
                os.close(fd)
        self._procs.append(p)
        return p

    def run(self, argv: list[str], *, user: str | None = None, timeout: float = 30,
            input: str | None = None, env: dict[str, str] | None = None,
            cwd: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run argv inside the host and wait (text output). Kills it on timeout and
        raises subprocess.TimeoutExpired."""
        p = self.spawn(argv, user=user, env=env, cwd=cwd, text=True,
                       stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            out, err = p.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            raise
        finally:
            with contextlib.suppress(ValueError):
                self._procs.remove(p)
        return subprocess.CompletedProcess(argv, p.returncode, out, err)

    def _hog(self, args: list[str], name: str, user: str | None, timeout: float) -> Workload:
        lab = self.lab
        argv = [_python(), str(lab.pubdir / "workloads" / "thread_hog.py"), "--name", name, *args]
        errlog = self.dir / f"hog-{time.monotonic_ns()}.err"
        with open(errlog, "wb") as err:
            p = self.spawn(argv, user=user, stdout=subprocess.PIPE, stderr=err)
        line = _read_line(p, timeout)
        if not line.startswith("READY"):
            if p.poll() is None:
                p.kill()
            p.wait(timeout=15)
            assert p.stdout is not None
            p.stdout.close()
            with contextlib.suppress(ValueError):
                self._procs.remove(p)
            raise LabError(f"thread hog in {self.name} failed: {line or 'no output'} "
                           f"(pids {self.pids_current()}/{self._pids_max_text()})\n"
                           + errlog.read_text(errors="replace")[-2000:])
        return Workload(p, self, name)

    def thread_hog(self, threads: int, *, name: str = "partner-bridge",
                   user: str | None = None) -> Workload:
        """A process inside the host holding `threads` threads in total (main one
        included), comm and cmdline carrying `name`. Returns once they all exist."""
        if threads < 1:
            raise ValueError("threads must be >= 1")
        return self._hog(["--threads", str(threads)], name, user, timeout=60 + threads / 500)

    def fill_to_ceiling(self, *, name: str = "partner-bridge",
                        user: str | None = USER) -> Workload:
        """A thread hog that creates threads until the host's cgroup is at pids.max
        (a limit of pids.current + 200 is set first if there is none), and keeps
        taking any pid that frees up. Then a fork inside the host fails and so does
        a new ssh login; connections and sessions opened before keep working.

        It runs as the ssh user by default, so that a shell of a session opened
        before can still signal it with its `kill` builtin (same uid); pass
        user=None for root or any other user."""
        if self._pids_max_text() == "max":
            self.set_pids_max(self.pids_current() + 200)
        gap = int(self._pids_max_text()) - self.pids_current()
        if gap > 20_000:  # the machine's pid_max would run out first, for everyone
            raise LabError(f"{self.name}: pids.max is {gap} above pids.current; "
                           "set a lower limit with set_pids_max() first")
        w = self._hog(["--fill", "--max-threads", str(max(gap, 0) + 50)], name, user,
                      timeout=60)
        deadline = time.monotonic() + 5
        while self.pids_current() < int(self._pids_max_text()):
            if time.monotonic() > deadline:
                w.stop()
                raise LabError(f"{self.name}: pids {self.pids_current()} never reached "
                               f"pids.max {self._pids_max_text()}")
            time.sleep(0.01)
        w.threads = _threads_of(w.pid)
        return w

    def time_wait_pileup(self, count: int, *,
                         port_range: tuple[int, int] | None = None) -> None:
        """Set ip_local_port_range in the host's netns if given, then make `count`
        loopback TCP connections inside the host, closed by the client first: ~count
        sockets sit in TIME_WAIT (for 60 s). Fails after 60 s."""
        argv = [_python(), str(self.lab.pubdir / "workloads" / "time_wait.py"),
                "--count", str(count), "--timeout", "55"]
        if port_range is not None:
            argv += ["--port-range", f"{port_range[0]}-{port_range[1]}"]
        r = self.run(argv, timeout=60)
        if r.returncode != 0:
            raise LabError(f"time_wait_pileup({count}) in {self.name}: {r.stderr.strip()}")
        n = int(r.stdout.split()[-1])
        if n < count * 0.9:
            raise LabError(f"time_wait_pileup({count}) in {self.name}: only {n} in TIME_WAIT")

    # -- cgroup ----------------------------------------------------------------

    def set_pids_max(self, n: int | None) -> None:
        (self.cgroup_dir / "pids.max").write_text("max" if n is None else str(int(n)))

    def _pids_max_text(self) -> str:
        return (self.cgroup_dir / "pids.max").read_text().strip()

    def pids_max(self) -> int | None:
        t = self._pids_max_text()
        return None if t == "max" else int(t)

    def pids_current(self) -> int:
        return int((self.cgroup_dir / "pids.current").read_text())

    # -- ssh -------------------------------------------------------------------

    def rotate_host_key(self) -> None:
        """Give sshd a new host key (SIGHUP: sshd re-execs, same pid, same address).
        The known_hosts files keep the OLD key; host_key_pub is the new one."""
        marker = f"Server listening on {self.address} port 22."
        seen = self.sshd_log.read_text(errors="replace").count(marker)
        with tempfile.TemporaryDirectory(dir=self.dir) as tmp:
            new = Path(tmp) / "key"
            _sh(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{self.name}-host",
                 "-f", str(new)])
            os.replace(new.with_suffix(".pub"), self.host_key.with_suffix(".pub"))
            os.replace(new, self.host_key)
        os.kill(self.sshd_pid, signal.SIGHUP)
        self._wait_listening(seen + 1)
        self.host_key_pub = self._pub_key()

    def use_host_certificate(self, ca_key: Path, *, principals: str | None = None) -> Path:
        """Sign the current host key with the CA private key `ca_key` (`ssh-keygen -s
        -h`, principals: the address unless given) and have sshd offer the
        certificate too (HostCertificate, SIGHUP). Returns the certificate's path.
        A later rotate_host_key() leaves the certificate of the old key."""
        marker = f"Server listening on {self.address} port 22."
        seen = self.sshd_log.read_text(errors="replace").count(marker)
        cert = self.host_key.parent / (self.host_key.name + "-cert.pub")
        _sh(["ssh-keygen", "-q", "-s", str(ca_key), "-h", "-I", f"{self.name}-host",
             "-n", principals or self.address, str(self.host_key.with_suffix(".pub"))])
        config = self.sshd_config.read_text()
        if f"HostCertificate {cert}" not in config:
            self.sshd_config.write_text(config + f"HostCertificate {cert}\n")
        os.kill(self.sshd_pid, signal.SIGHUP)
        self._wait_listening(seen + 1)
        return cert

    def ssh_argv(self, *remote: str) -> list[str]:
        """A plain OpenSSH client command to this host (our key, this host's
        known_hosts, strict host key checking, BatchMode, no user config)."""
        return ["ssh", "-F", "/dev/null", "-i", str(self.key_file), "-p", str(self.port),
                "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
                "-o", f"UserKnownHostsFile={self.known_hosts_file}",
                "-o", "GlobalKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=yes",
                "-o", "UpdateHostKeys=no", "-o", "ConnectTimeout=5",
                "-o", "ControlMaster=no", "-o", "ControlPath=none", "-o", "LogLevel=ERROR",
                f"{self.user}@{self.address}", *remote]


class Lab:
    """One per test session: the bridge, the hosts, their clean-up.

    `index` picks a separate set of names (bridge hsnapN, 10.213.N.0/24, cgroup
    hostsnap-labN) so the lab's own tests can simulate a crashed run; everyone
    else uses the default 0.
    """

    def __init__(self, workdir: Path, *, index: int = 0, lock_timeout: float | None = None,
                 ) -> None:
        if not 0 <= index <= 9:
            raise ValueError("index must be 0..9")
        reason = unavailable_reason()
        if reason:
            raise LabUnavailable(reason)
        self.index = index
        self.bridge = f"hsnap{index}"
        self.net = f"10.213.{index}"
        self.gateway = f"{self.net}.1"
        self.ns_prefix = f"hsnap{index}-"
        self.veth_prefix = f"hsnap{index}v"
        self.cgroup_root = PIDS_ROOT / ("hostsnap-lab" if index == 0 else f"hostsnap-lab{index}")
        self.pubdir = RUN_DIR / f"lab{index}"
        self.lock_file = RUN_DIR / f"lab{index}.lock"
        self.workdir = Path(workdir).resolve()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.key_file = self.workdir / "id_ed25519"
        self.known_hosts_file = self.workdir / "known_hosts"
        self.authorized_keys = self.pubdir / "authorized_keys"
        self.own_cgroup = self._own_pids_cgroup()
        self.hosts: dict[str, TestHost] = {}
        self.closed = False
        self._mutex = threading.RLock()  # hosts, slots, known_hosts file
        self._lock_fd: int | None = None
        if lock_timeout is None:
            lock_timeout = float(os.environ.get("HOSTSNAP_LAB_LOCK_TIMEOUT", "900"))
        self._lock(lock_timeout)
        try:
            self._cleanup_leftovers()
            self._setup()
        except BaseException:
            self._unlock()
            raise
        atexit.register(self.close)

    # -- set-up and tear-down --------------------------------------------------

    @staticmethod
    def _own_pids_cgroup() -> Path:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            if "pids" in controllers.split(","):
                return PIDS_ROOT / path.lstrip("/")
        return PIDS_ROOT

    def _lock(self, timeout: float) -> None:
        RUN_DIR.mkdir(mode=0o755, exist_ok=True)
        fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + timeout
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    holder = os.pread(fd, 64, 0).decode(errors="replace").strip()
                    os.close(fd)
                    raise LabError(f"another lab (pid {holder or '?'}) holds {self.lock_file} "
                                   f"for more than {timeout:.0f} s") from None
                if not told:
                    holder = os.pread(fd, 64, 0).decode(errors="replace").strip()
                    print(f"hostsnap lab: waiting for another lab (pid {holder or '?'}) "
                          f"to finish; lock {self.lock_file}", file=sys.stderr, flush=True)
                    told = True
                time.sleep(0.5)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._lock_fd = fd

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._lock_fd, 0)
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None

    def _cleanup_leftovers(self) -> None:
        """We hold the lock, so anything with our names is a crashed run's leftover:
        kill the processes in our cgroups (by pid), delete netns, veths, bridge."""
        _kill_cgroup_tree(self.cgroup_root)
        batch = []
        for line in _sh(["ip", "netns", "list"]).stdout.splitlines():
            name = line.split()[0] if line.strip() else ""
            if name.startswith(self.ns_prefix):
                batch.append(f"netns del {name}")
        links = _sh(["ip", "-o", "link", "show"]).stdout
        for m in re.finditer(r"^\d+: ([^:@\s]+)", links, re.M):
            name = m.group(1)
            if re.fullmatch(rf"{self.veth_prefix}\d+", name) or name == self.bridge:
                batch.append(f"link del {name}")
        if batch:
            _sh(["ip", "-force", "-batch", "-"], input="\n".join(batch) + "\n", check=False)
        if self.pubdir.exists():
            shutil.rmtree(self.pubdir)

    def _setup(self) -> None:
        for user in (USER, APP_USER):
            self._ensure_user(user)
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        self.pubdir.mkdir(mode=0o755)
        self.pubdir.chmod(0o755)
        RUN_DIR.chmod(0o755)
        wl = self.pubdir / "workloads"
        wl.mkdir(mode=0o755)
        wl.chmod(0o755)
        for f in WORKLOADS.glob("*.py"):
            shutil.copyfile(f, wl / f.name)
            (wl / f.name).chmod(0o644)
        if not self.key_file.exists():
            _sh(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "hostsnap-lab-client",
                 "-f", str(self.key_file)])
        self.key_file.chmod(0o600)
        self.authorized_keys.write_text(self.key_file.with_suffix(".pub").read_text())
        self.authorized_keys.chmod(0o644)
        self.known_hosts_file.write_text("")
        self.cgroup_root.mkdir(exist_ok=True)
        r = _sh(["ip", "-batch", "-"], check=False, input=(
            f"link add {self.bridge} type bridge stp_state 0 forward_delay 0\n"
            f"addr add {self.gateway}/24 dev {self.bridge}\n"
            f"link set {self.bridge} up\n"))
        if r.returncode != 0:
            raise LabUnavailable(f"cannot create bridge {self.bridge}: {r.stderr.strip()}")

    @staticmethod
    def _ensure_user(user: str) -> None:
        try:
            pwd.getpwnam(user)
        except KeyError:
            r = _sh(["useradd", "-m", "-U", "-s", "/bin/bash", user], check=False)
            if r.returncode not in (0, 9):  # 9: exists (created meanwhile)
                raise LabError(f"useradd {user}: {r.stderr.strip()}") from None
        # with UsePAM no, sshd refuses a locked account ("!" in /etc/shadow)
        for line in Path("/etc/shadow").read_text().splitlines():
            if line.startswith(f"{user}:"):
                if line.split(":")[1] != "*":
                    _sh(["usermod", "-p", "*", user])
                break

    def close(self) -> None:
        """Kill only what this lab started (by pid), delete its netns, veths,
        cgroups, bridge and /run/hostsnap-lab/labN. Idempotent."""
        if self.closed:
            return
        self.closed = True
        errors = []
        try:
            with ThreadPoolExecutor(16) as pool:  # 100 hosts: 3.5 s one by one
                errors += [str(e) for e in pool.map(self._try_remove, list(self.hosts.values()))
                           if e is not None]
            with contextlib.suppress(LabError):
                self._cleanup_leftovers()  # anything a failed removal left
            try:
                _kill_cgroup_tree(self.cgroup_root)
            except LabError as e:
                errors.append(str(e))
        finally:
            self._unlock()
            with contextlib.suppress(Exception):
                atexit.unregister(self.close)
        if errors:
            raise LabError("; ".join(errors))

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- hosts -----------------------------------------------------------------

    def add_host(self, name: str, *, pids_max: int | None = None,
                 hostname: str | None = None) -> TestHost:
        """Start a test host: netns, veth on the bridge, the next free address
        (10.213.0.10, .11, ...), a pids cgroup (pids.max = pids_max or "max"),
        sshd listening on ADDRESS:22. Takes ~50 ms."""
        if self.closed:
            raise LabError("lab is closed")
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,47}", name):
            raise ValueError(f"bad host name {name!r}: letters, digits, '-', '_', '.'; <= 48")
        with self._mutex:
            if name in self.hosts:
                raise ValueError(f"host {name!r} already exists in this lab")
            used = {h.slot for h in self.hosts.values()}
            free = [s for s in range(FIRST_SLOT, FIRST_SLOT + MAX_HOSTS) if s not in used]
            if not free:
                raise LabError(f"the lab holds at most {MAX_HOSTS} hosts")
            host = TestHost(self, name, free[0], hostname or name)
            self.hosts[name] = host
        try:
            host._start(pids_max)
        except BaseException:
            with contextlib.suppress(Exception):
                self.remove_host(host)
            raise
        self._write_known_hosts()
        return host

    def add_hosts(self, names: Sequence[str], *, workers: int = 16,
                  pids_max: int | None = None) -> list[TestHost]:
        """Start many hosts at once (`workers` in parallel: each start mostly waits
        on ssh-keygen, `ip` and sshd). All or nothing: if one fails, the ones
        started here are removed and the first error is raised."""
        if len(set(names)) != len(names):
            raise ValueError("host names repeat")
        with ThreadPoolExecutor(max(1, min(workers, len(names) or 1))) as pool:
            futures = [pool.submit(self.add_host, n, pids_max=pids_max) for n in names]
            errors = [f.exception() for f in futures]
        started = [f.result() for f, e in zip(futures, errors, strict=True) if e is None]
        first = next((e for e in errors if e is not None), None)
        if first is not None:
            for h in started:
                with contextlib.suppress(LabError):
                    self.remove_host(h)
            raise first
        return started

    def remove_hosts(self, hosts: Sequence[TestHost | str], *, workers: int = 16) -> None:
        """remove_host() for each, in parallel; raises the first error after trying all."""
        with ThreadPoolExecutor(max(1, min(workers, len(hosts) or 1))) as pool:
            errors = [e for e in pool.map(self._try_remove, hosts) if e is not None]
        if errors:
            raise errors[0]

    def _try_remove(self, host: TestHost | str) -> BaseException | None:
        try:
            self.remove_host(host)
        except Exception as e:
            return e
        return None

    def drop_connections(self, hosts: Sequence[TestHost] | None = None) -> int:
        """Every SSH connection to these hosts (default: all) ends at once, as when
        the network drops them: their per-connection sshd processes and everything
        under them are SIGKILLed; the listening sshd (and what spawn() started)
        stays, so new connections are accepted. Returns how many processes died."""
        killed = 0
        for h in list(self.hosts.values()) if hosts is None else hosts:
            killed += h.drop_connections()
        return killed

    def set_bridge_up(self, up: bool) -> None:
        """Take the lab's bridge down (every host unreachable from here; open TCP
        connections stall, they do not end) or bring it back up."""
        _sh(["ip", "link", "set", self.bridge, "up" if up else "down"])

    def remove_host(self, host: TestHost | str) -> None:
        """Kill the host's processes, delete its netns, veth and cgroup."""
        h = self.hosts.get(host if isinstance(host, str) else host.name)
        if h is None:
            return
        try:
            h._stop()
        finally:
            with self._mutex:
                self.hosts.pop(h.name, None)
                self._write_known_hosts()

    def _write_known_hosts(self) -> None:
        """Every running host's original key, keyed by its address (atomic replace)."""
        with self._mutex:
            text = "".join(f"{h.address} {h.known_key}\n" for h in self.hosts.values()
                           if h.known_key)
            tmp = self.known_hosts_file.with_suffix(".tmp")
            tmp.write_text(text)
            os.replace(tmp, self.known_hosts_file)
