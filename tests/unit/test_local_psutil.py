"""Capture on a machine without /proc (macOS): the same collectors through a
psutil-backed view of the files they read."""

import os
import threading

from collectors.base import CollectContext, HostInfo, Status
from collectors.registry import resolve
from collectors.runner import run_collectors
from collectors.transport.local import LocalSession


async def test_limits_and_memory_without_proc():
    stop = threading.Event()
    workers = [threading.Thread(target=stop.wait, daemon=True) for _ in range(80)]
    for t in workers:
        t.start()
    try:
        ctx = CollectContext(LocalSession(force_psutil=True), HostInfo("laptop"))
        results, _ = await run_collectors(ctx, resolve(["limits", "memory"]))
    finally:
        stop.set()
    by = {r.collector: r for r in results}
    assert by["limits"].status is Status.OK, by["limits"].error
    limits = by["limits"].parsed
    me = next(p for p in limits["top"] if p["pid"] == os.getpid())
    assert me["threads"] >= 81 and "pytest" in me["cmdline"]
    assert limits["processes"] > 1 and limits["kernel_tasks"] >= me["threads"]
    assert by["memory"].parsed["mem_total_kb"] > 0
