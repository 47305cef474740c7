"""CPU-heavy pure steps in worker processes, off the event loop.

Parsing a 3 000-thread dump is pure Python (~40 ms a dump) and holds the GIL:
in a thread of the bot's process it still stalls the event loop, which then
gets the GIL back only in 5 ms slices shared with every such thread, so Slack
acks and webhooks queue behind captures (issue 17: webhook p99 92 ms with 10
captures running). In a worker process the loop only unpickles the result.

One class for every such step: the capture's analysis stage (`shared()`, as
many workers as CPUs, `HOSTSNAP_WORKERS` to change; 0: in threads as before)
and the alert webhook's big bodies (bot/alerts/offload.py, one worker of its
own, so a body never waits behind a dump). Workers are started on first use,
from a fork server that has imported the parsers once, and end with the
process (also a killed one); they run at a lower CPU priority than the bot
(nice +10), so on a busy machine intake is scheduled first. A worker that dies (killed, out of
memory) fails the calls it had with `WorkerCrashed`, never a hang, and the
next call starts a new pool.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import select
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")

#: environment variable: worker processes of the capture pool (0: none, in threads)
WORKERS_ENV = "HOSTSNAP_WORKERS"
#: inputs smaller than this are not worth a round trip to a worker (~1 ms):
#: a dump of this size parses in ~3 ms
INLINE_BELOW = 256 * 1024
#: what the fork server imports once, so a new worker starts in milliseconds
#: (__main__ too: else every worker imports the program's main module again)
PRELOAD = ["__main__", "collectors.analysis.stage", "collectors.analysis.dumps"]
NICE = 10


class WorkerCrashed(RuntimeError):
    """The worker process running a call died; the message says so plainly."""


def _worker_init(bot_pid: int) -> None:
    try:
        os.nice(NICE)
    except OSError:  # not permitted: run at the bot's priority
        pass
    # A worker waits on a queue whose both ends it holds, and keeps the fork
    # server alive: if the bot is killed (SIGKILL, no clean shutdown) neither
    # would ever end. A thread ends the worker when the bot process is gone.
    threading.Thread(target=_exit_with, args=(bot_pid,), daemon=True,
                     name="exit-with-bot").start()


def _exit_with(pid: int) -> None:
    try:
        fd = os.pidfd_open(pid)  # readable once the process has ended
    except ProcessLookupError:
        os._exit(0)
    except (OSError, AttributeError):  # no pidfd (old kernel, not Linux): poll
        while True:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                os._exit(0)
            except OSError:
                pass
            time.sleep(1.0)
    select.select([fd], [], [])
    os._exit(0)


def _ready() -> int:
    return os.getpid()


class WorkerPool:
    """A lazily started ProcessPoolExecutor; `workers=0` runs calls in a thread
    of this process instead (the comparison, and machines with one CPU)."""

    def __init__(self, workers: int, *, name: str, preload: Sequence[str] = PRELOAD,
                 start_method: str = "forkserver") -> None:
        self.workers = max(0, workers)
        self.name = name
        self._preload = list(preload)
        self._start_method = start_method
        self._pool: ProcessPoolExecutor | None = None
        self._starting = threading.Lock()
        self.crashes = 0

    async def _executor(self) -> ProcessPoolExecutor:
        pool = self._pool
        if pool is None:
            # starting a worker blocks until it is forked (the first one until
            # the fork server has imported the parsers: ~0.5 s): in a thread
            pool = await asyncio.to_thread(self._start_once)
        return pool

    def _start_once(self) -> ProcessPoolExecutor:
        with self._starting:
            if self._pool is None:
                self._pool = self._start()
            return self._pool

    def _start(self) -> ProcessPoolExecutor:
        ctx = multiprocessing.get_context(self._start_method)
        if self._start_method == "forkserver":
            # a fork of a small single-threaded server: never of the bot's
            # process, whose threads may hold locks mid-use
            ctx.set_forkserver_preload(self._preload)
        pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx,
                                   initializer=_worker_init,
                                   initargs=(os.getpid(),))
        # every worker now (the executor starts one per call while none is idle)
        try:
            for f in [pool.submit(_ready) for _ in range(self.workers)]:
                f.result(timeout=60)
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        return pool

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        """fn(*args) in a worker (fn a module-level function; arguments and
        result picklable: pydantic models are)."""
        if self.workers == 0:
            return await asyncio.to_thread(fn, *args)
        pool: ProcessPoolExecutor | None = None
        try:
            pool = await self._executor()
            return await asyncio.get_running_loop().run_in_executor(pool, fn, *args)
        except BrokenProcessPool:
            self.crashes += 1
            if pool is not None and self._pool is pool:  # its first failed call replaces it
                self._pool = None
                pool.shutdown(wait=False, cancel_futures=True)
                log.error("a %s worker process died; the next call starts a new one",
                          self.name)
            raise WorkerCrashed(f"the {self.name} worker process died while working "
                                "(killed, or out of memory?)") from None

    def pids(self) -> list[int]:
        """The live workers' process ids (for tests and diagnostics)."""
        procs = getattr(self._pool, "_processes", None) or {}
        return [p.pid for p in procs.values() if p.pid is not None and p.is_alive()]

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)


def default_workers(configured: int | None = None) -> int:
    """The environment's HOSTSNAP_WORKERS, else `configured` (capture.workers),
    else one per CPU."""
    raw = os.environ.get(WORKERS_ENV, "").strip()
    if raw:
        try:
            return max(0, int(raw))
        except ValueError:
            log.warning("%s=%r is not a number: using the CPU count", WORKERS_ENV, raw)
    if configured is not None:
        return max(0, configured)
    return os.cpu_count() or 1


_shared: WorkerPool | None = None
_configured: int | None = None


def configure(workers: int | None) -> None:
    """capture.workers, from the settings (collectors cannot read them): the
    size of `shared()`, if it has not started a worker yet."""
    global _configured
    _configured = workers
    if _shared is not None and _shared._pool is None:
        _shared.workers = default_workers(workers)


def shared() -> WorkerPool:
    """The process's pool for capture work (created on first use; its workers
    start on the first call that needs one)."""
    global _shared
    if _shared is None:
        _shared = WorkerPool(default_workers(_configured), name="capture analysis")
    return _shared
