"""Makes tests/data/hostsnap-0004.db: snapshots stored by hostsnap as it was
before issue 14 (schema 0004, findings computed inside the collectors), for the
migration and `hostsnap reanalyze` tests.

It must run on the code of commit 1f329c4 (the last before issue 14):

    git worktree add /tmp/pre14 1f329c4
    cd /tmp/pre14 && PYTHONPATH=/tmp/pre14 CHECKOUT/.venv/bin/python \
        CHECKOUT/tests/data/make_db_0004.py CHECKOUT/tests/data/hostsnap-0004.db
    git worktree remove /tmp/pre14

As root (the lab: one sshd test host in a network namespace, whose process list
holds only the lab's own processes, never this machine's). On that host it runs
EvictorLeak (a JVM leaking Apache HttpClient "Connection evictor" threads) as
`snap` and a Go service with a sync.Mutex pile-up (2500 waiters) and 300 leaked
goroutines as `appuser`, then takes two snapshots 2 s apart with the collectors
limits, memory, network, jvm (3 dumps, 1 s apart, by attach) and goroutines
(pprof debug=2 through the host, endpoint from the host's label).

Contents (made 2026-12-04, schema 0004_warm_holds, 287 KB), host `db0004`:
- snapshot rvf6sybq, then g7anqxea (2 s later), both complete, each with the
  runs limits, memory, network, jvm (jvm/2-dump1..3.txt: EvictorLeak, pid 2 in
  the host's namespace) and goroutines (goroutines/127.0.0.1_<port>.debug2.txt);
- findings of each: HTTPCLIENT_EVICTOR_LEAK and THREAD_GROWTH (jvm),
  GO_MUTEX_PILEUP (goroutines), OOM_KILL (memory: the kernel's oom_kill count
  in /proc/vmstat, which a network namespace shares with this machine).
Checked to hold nothing of the machine that made it (no /work, /root, its
hostname: `owner`, hostname:pid of the capturing process, is set to lab:1);
paths under /tmp/hostsnap-mkdb-* are the lab workloads' own build dirs.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.lab.hosts import Lab


async def main(out: Path) -> None:
    from collectors.jvm import JvmOptions
    from tests.integration.helpers import service_for
    from tests.integration.test_goroutines import _build
    from tests.integration.test_jvm import CP, ROOT, Jvm

    if out.exists():
        out.unlink()
    work = Path(tempfile.mkdtemp(prefix="hostsnap-mkdb-"))
    work.chmod(0o755)
    classes = work / "classes"  # as the jvm_classes fixture does
    subprocess.run(["javac", "-nowarn", "-cp", ":".join(CP), "-d", str(classes),
                    str(ROOT / "tests/workloads/jvm/Workload.java"),
                    str(ROOT / "tests/workloads/jvm/EvictorLeak.java")],
                   check=True, capture_output=True)
    for p in classes.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    classes.chmod(0o755)
    gobin = _build(work / "go")
    lab = Lab(work / "lab")
    try:
        host = lab.add_host("db0004")
        jvm = Jvm(host, classes, "EvictorLeak", "300", stdout=work / "evictor.out")
        go = host.spawn([str(gobin), "-waiters", "2500", "-leaks", "300", "-lifetime", "5m"],
                        user="appuser", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            jvm.wait_ready("READY")
            assert go.stdout is not None
            line = go.stdout.readline().decode()
            assert line.startswith("READY "), line
            port = int(line.split()[1])
            db = work / "hs.db"
            settings, store, svc = await service_for(
                work, [host], db_url=f"sqlite+aiosqlite:///{db}",
                labels=f'{{ pprof = ["127.0.0.1:{port}"] }}')
            settings.jvm = JvmOptions(dumps=3, spacing=1.0, allow_jcmd=False)
            ids = []
            for i in range(2):
                if i:
                    await asyncio.sleep(2)
                o = await svc.capture(svc.inventory.resolve([host.name])[0],
                                      collectors=["limits", "memory", "network", "jvm",
                                                  "goroutines"])
                assert o.error is None, o.error
                assert o.snapshot is not None
                ids.append(o.snapshot.id)
                print(o.snapshot.id, sorted({f.rule for f in o.snapshot.finding_list}))
            await store.close()
            # `owner` is this machine's hostname:pid (for interrupted captures): not kept
            import sqlite3

            c = sqlite3.connect(db)
            c.execute("UPDATE snapshots SET owner = 'lab:1'")
            c.commit()
            c.execute("PRAGMA journal_mode=DELETE")  # one file, no -wal beside it
            c.close()
            os.replace(db, out)
            print("CONTENTS", ids)
        finally:
            jvm.stop()
            go.kill()
            go.wait()
            lab.remove_host(host)
    finally:
        lab.close()
        import shutil

        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]).resolve()))
