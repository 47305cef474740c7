"""Build and run the real JVM and Go workloads of tests/workloads/ and take dumps from them.

Compiled artifacts are cached under the temp dir, keyed by a hash of the sources, so a
second run starts processes at once. Every workload exits by itself after its
lifetime, and the fixtures kill them when the session ends.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from tests.conftest import skip_or_fail

ROOT = Path(__file__).resolve().parents[2]
WORKLOADS = ROOT / "tests" / "workloads"
CACHE = Path(tempfile.gettempdir()) / "hostsnap-analysis-cache"
JARS = ["httpclient.jar", "httpcore.jar", "commons-logging.jar", "commons-codec.jar",
        "commons-httpclient.jar"]
JAVA_OPTS = ["-Xss256k", "-Xmx96m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC",
             "-XX:-UsePerfData"]
LIFETIME_S = 240


def _digest(files: list[Path]) -> str:
    h = hashlib.sha256()
    for f in sorted(files):
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def _need(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        skip_or_fail(f"{', '.join(missing)} not installed")


def java_classpath() -> str:
    """javac the workloads once (cached); the classpath to run them."""
    _need("java", "javac", "jcmd", "jstack")
    jars = [Path("/usr/share/java") / j for j in JARS]
    absent = [str(j) for j in jars if not j.exists()]
    if absent:
        skip_or_fail(f"missing jars: {absent} (apt-get install libhttpclient-java "
                     "libcommons-httpclient-java)")
    sources = sorted((WORKLOADS / "jvm").glob("*.java"))
    out = CACHE / f"jvm-{_digest(sources)}"
    cp = ":".join([str(out), *map(str, jars)])
    if not (out / "Workload.class").exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=CACHE))
        subprocess.run(["javac", "-nowarn", "-d", str(tmp), "-cp", cp, *map(str, sources)],
                       check=True, capture_output=True, timeout=120)
        try:
            tmp.rename(out)
        except OSError:  # another session won the race
            shutil.rmtree(tmp, ignore_errors=True)
    return cp


def go_binary() -> Path:
    """go build the workload once (cached), offline, standard library only."""
    _need("go")
    src = WORKLOADS / "go"
    files = [*sorted(src.glob("*.go")), src / "go.mod"]
    out = CACHE / f"goworkload-{_digest(files)}"
    if not out.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "GOCACHE": str(CACHE / "gocache"), "GOPATH": str(CACHE / "gopath"),
               "GOFLAGS": "-mod=mod", "GOPROXY": "off", "GOSUMDB": "off",
               "GOTOOLCHAIN": "local", "CGO_ENABLED": "0"}
        tmp = out.with_suffix(f".{os.getpid()}")
        subprocess.run(["go", "build", "-o", str(tmp), "."], cwd=src, env=env, check=True,
                       capture_output=True, timeout=300)
        tmp.rename(out)
    return out


class Process:
    """A workload process whose stdout goes to a file; READY <detail> when set up."""

    def __init__(self, argv: list[str], name: str, workdir: Path) -> None:
        self.name = name
        self.out = workdir / f"{name}.out"
        self._fh = self.out.open("wb")
        self.proc = subprocess.Popen(argv, stdout=self._fh, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        self.ready = ""

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_ready(self, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.out.read_text(errors="replace").splitlines():
                if line.startswith("READY"):
                    self.ready = line[6:].strip()
                    return self.ready
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.out.read_text()[-2000:]}")
            time.sleep(0.05)
        raise TimeoutError(f"{self.name} not ready after {timeout}s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._fh.close()


class JavaProcess(Process):
    def __init__(self, cls: str, cp: str, workdir: Path) -> None:
        super().__init__(["java", *JAVA_OPTS, "-cp", cp, cls, str(LIFETIME_S)], cls, workdir)

    def jcmd(self) -> bytes:
        return subprocess.run(["jcmd", str(self.pid), "Thread.print", "-l"], check=True,
                              capture_output=True, timeout=60).stdout

    def jstack(self) -> bytes:
        return subprocess.run(["jstack", "-l", str(self.pid)], check=True,
                              capture_output=True, timeout=60).stdout

    def sigquit(self) -> bytes:
        """SIGQUIT: the JVM prints the dump on its stdout (what the collector reads from
        /proc/PID/fd/1 when the JVM is at its thread ceiling)."""
        before = self.out.read_bytes().count(b"JNI global refs")
        os.kill(self.pid, signal.SIGQUIT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            data = self.out.read_bytes()
            if data.count(b"JNI global refs") > before:
                time.sleep(0.2)  # the Heap summary follows the JNI line
                return self.out.read_bytes()
            time.sleep(0.05)
        raise TimeoutError("no dump after SIGQUIT")


class GoProcess(Process):
    def __init__(self, binary: Path, mode: str, n: int, workdir: Path) -> None:
        super().__init__([str(binary), f"-mode={mode}", f"-n={n}", f"-lifetime={LIFETIME_S}s"],
                         f"go-{mode}", workdir)

    def goroutines(self, debug: int = 2) -> bytes:
        url = f"http://127.0.0.1:{self.ready}/debug/pprof/goroutine?debug={debug}"
        with urllib.request.urlopen(url, timeout=30) as r:  # loopback only
            data: bytes = r.read()
        return data
