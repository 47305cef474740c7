"""Session fixtures: dumps taken live from the real workloads (tests/workloads/).

All JVMs start together and all Go programs start together; the dumps are taken,
the processes stopped, and the tests work on the captured bytes.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.analysis.live import GoProcess, JavaProcess, go_binary, java_classpath

JVM_WORKLOADS = ["EvictorLeak", "ExecutorLeak", "SlowBackend", "Healthy", "Http31Pool",
                 "Http4Pool", "Deadlock", "LockConvoy"]
# Dumped twice, about 2 s apart, for the between-dumps rules.
TWICE = ["EvictorLeak", "ExecutorLeak", "SlowBackend", "Healthy", "Http31Pool"]
GAP_S = 2.0

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def jvm_dumps(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[bytes]]:
    """name -> [jcmd dump, (second jcmd dump)]; plus "Deadlock.jstack" and
    "LockConvoy.sigquit" (the JVM's stdout after SIGQUIT)."""
    cp = java_classpath()
    work = tmp_path_factory.mktemp("jvm")
    procs = {n: JavaProcess(n, cp, work) for n in JVM_WORKLOADS}
    try:
        for p in procs.values():
            p.wait_ready()
        dumps = {n: [procs[n].jcmd()] for n in JVM_WORKLOADS}
        taken = time.monotonic()
        dumps["Deadlock.jstack"] = [procs["Deadlock"].jstack()]
        dumps["LockConvoy.sigquit"] = [procs["LockConvoy"].sigquit()]
        time.sleep(max(0.0, GAP_S - (time.monotonic() - taken)))
        for n in TWICE:
            dumps[n].append(procs[n].jcmd())
        return dumps
    finally:
        for p in procs.values():
            p.stop()


@pytest.fixture(scope="session")
def go_dumps(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[bytes]]:
    """mode -> [debug=2, debug=1]; "grow" -> two debug=2 dumps 0.5 s apart."""
    binary = go_binary()
    work = tmp_path_factory.mktemp("go")
    procs = {m: GoProcess(binary, m, n, work)
             for m, n in (("mutex", 2000), ("leak", 1000), ("grow", 100), ("healthy", 0))}
    try:
        for p in procs.values():
            p.wait_ready()
        dumps = {m: [p.goroutines(2), p.goroutines(1)] for m, p in procs.items()}
        time.sleep(0.5)
        dumps["grow"] = [dumps["grow"][0], procs["grow"].goroutines(2)]
        return dumps
    finally:
        for p in procs.values():
            p.stop()
