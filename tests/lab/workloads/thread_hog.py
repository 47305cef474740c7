"""Hold many threads cheaply: the process a test host's "runaway service" is.

    thread_hog.py --name NAME --threads N       hold exactly N threads (main included)
    thread_hog.py --name NAME --fill            create threads until the kernel refuses
                                                (pids cgroup at pids.max), then keep
                                                taking any pid that frees up

The process's comm (/proc/PID/comm) and every thread's comm are NAME (PR_SET_NAME
before the first thread; threads inherit it); NAME is also in the command line.
Prints one line when all threads exist: "READY <threads>", or "FAIL <threads> <error>"
and exits 1. Threads block on a lock with 64 KiB stacks: ~5 000 threads in < 1 s, ~60 MB.
Lives until killed, at most --max-seconds.
"""

from __future__ import annotations

import _thread
import argparse
import ctypes
import sys
import threading
import time

PR_SET_NAME = 15


def set_comm(name: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_NAME, name.encode()[:15], 0, 0, 0)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--fill", action="store_true")
    ap.add_argument("--stack-kib", type=int, default=64)
    ap.add_argument("--refill-ms", type=int, default=10)
    ap.add_argument("--max-seconds", type=float, default=3600.0)
    ap.add_argument("--max-threads", type=int, default=60_000)
    a = ap.parse_args()

    set_comm(a.name)
    threading.stack_size(a.stack_kib * 1024)
    gate = _thread.allocate_lock()
    gate.acquire()  # every thread blocks on this forever

    end = time.monotonic() + a.max_seconds
    total = 1  # the main thread
    want = a.max_threads if a.fill else a.threads
    while total < want:
        try:
            _thread.start_new_thread(gate.acquire, ())
        except RuntimeError as e:  # "can't start new thread": clone() got EAGAIN
            if a.fill:
                break
            print(f"FAIL {total} {e}", flush=True)
            return 1
        total += 1
    print(f"READY {total}", flush=True)

    while time.monotonic() < end:
        time.sleep(a.refill_ms / 1000 if a.fill else 1.0)
        if a.fill and total < a.max_threads:
            try:  # a pid freed up somewhere in the cgroup: take it, stay at the ceiling
                _thread.start_new_thread(gate.acquire, ())
                total += 1
            except RuntimeError:
                pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
