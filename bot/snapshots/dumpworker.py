"""The thread-dump explorer's worker process: it parses dumps and keeps them.

Parsing a 100 000-goroutine dump holds the GIL for ~0.7 s: in the serving
process that is 0.7 s in which Slack acks and alert webhooks wait. So the
parse AND the parsed dumps live in one worker process per serving process
(started on first use, from a forkserver: nothing of the bot is inherited),
and the web process asks it for what a request shows: a page's view, a
group's members, a page of search results, all small (bot.render.dumpview's
PageView, GroupView, Rows). Pickling a parsed dump back would cost ~0.5 s:
it never leaves the worker.

The raw bytes are sent once, when the worker says it does not hold the dump
(`Missing`); it redacts them before parsing. A worker that dies (killed,
out of memory) fails the requests it was serving with `WorkerDown` (the page
says so) and the next request starts a new one; a request that takes longer
than `timeout` kills it, so nothing hangs."""

from __future__ import annotations

import asyncio
import gc
import json
import multiprocessing
import os
import signal
import threading
from collections import OrderedDict
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

import zstandard

from bot.redact import redact_bytes
from bot.render.dumpview import (
    TOP_GROUPS,
    TOP_POOLS,
    DumpModel,
    GroupView,
    PageView,
    build,
    head,
    rows_of,
)
from bot.render.svg.flame import icicle
from bot.render.svg.lockgraph import lock_graph
from collectors.analysis.dumps import parse_dump

Key = tuple[str, int]  # (snapshot id, dump n)

#: parsed dumps the worker keeps, and the raw size they may add up to (a parsed
#: dump takes a few times its text in memory: 160 MB of dumps is ~1 GB)
MAX_ENTRIES = 8
MAX_BYTES = 160 * 1024 * 1024
#: a request the worker has not answered by then: the worker is killed
TIMEOUT_S = 60.0


class WorkerDown(RuntimeError):
    """The worker died or hung while serving this request; the next starts a new one."""


@dataclass(frozen=True)
class Missing:
    """The worker does not hold this dump: send its bytes."""


@dataclass(frozen=True)
class Unreadable:
    """Not a thread dump the parsers can read."""

    name: str
    warnings: list[str]


@dataclass(frozen=True)
class DumpRef:
    snapshot_id: str
    n: int  # as the snapshot page numbers it (bot.render.web_snapshot.dumps)
    name: str  # the raw file: jvm/811-dump2.txt, goroutines/x.debug2.txt
    kind: str  # jvm / go


@dataclass
class ExploredDump:
    ref: DumpRef
    size: int
    redactions: int
    #: one per dump in the file (a SIGQUIT log may hold several); the last is shown
    models: list[DumpModel] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def model(self) -> DumpModel | None:
        return self.models[-1] if self.models else None


def explore_bytes(ref: DumpRef, data: bytes) -> ExploredDump:
    """Redact, parse and group one stored dump file. What the pages show of it
    is what a raw file sent off this machine shows."""
    text, redactions = redact_bytes(data)
    parsed, warnings = parse_dump(text, ref.kind if ref.kind == "jvm" else None)
    return ExploredDump(ref=ref, size=len(data), redactions=redactions,
                        models=[build(d) for d in parsed], warnings=warnings)


# --- in the worker process ----------------------------------------------------------------

class Lru:
    """Explored dumps by key, bounded by count and by their raw size."""

    def __init__(self, max_entries: int = MAX_ENTRIES, max_bytes: int = MAX_BYTES) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.items: OrderedDict[Key, ExploredDump] = OrderedDict()
        self.parses = 0

    def get(self, key: Key) -> ExploredDump | None:
        hit = self.items.get(key)
        if hit is not None:
            self.items.move_to_end(key)
        return hit

    def put(self, key: Key, item: ExploredDump) -> None:
        self.items[key] = item
        self.items.move_to_end(key)
        while len(self.items) > 1 and (
                len(self.items) > self.max_entries
                or sum(x.size for x in self.items.values()) > self.max_bytes):
            self.items.popitem(last=False)


_lru = Lru()


def _init(max_entries: int, max_bytes: int) -> None:
    global _lru
    _lru = Lru(max_entries, max_bytes)
    # a Ctrl-C in the terminal reaches the whole process group: the serving
    # process decides when the worker ends
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # a parse yields the CPU to the serving process (Slack acks, webhooks) first
    os.nice(5)


def run(op: str, key: Key, args: tuple[Any, ...], load: tuple[DumpRef, bytes] | None) -> Any:
    """One request, in the worker. `load`: the dump's stored bytes, when the
    worker said Missing (or to warm it)."""
    if op == "stats":
        return {"pid": os.getpid(), "parses": _lru.parses, "entries": list(_lru.items)}
    got = _lru.get(key)
    if got is None and load is not None:
        # a parse allocates millions of objects and frees few: the cyclic GC's
        # full passes over the growing heap cost 15-60 % of it, for nothing
        gc.disable()
        try:
            got = explore_bytes(*load)
        finally:
            gc.enable()
        _lru.parses += 1
        _lru.put(key, got)
        # the kept dumps out of the GC's way (a parsed dump holds no cycles: one
        # evicted is freed by its reference counts all the same)
        gc.freeze()
    if got is None:
        return Missing()
    if op == "warm":
        return None
    m = got.model
    if m is None:
        return Unreadable(got.ref.name, got.warnings)
    if op == "page":
        view = page_view(got, m, *args)
        blob = pack(view) if not args[0] else None  # the unfiltered page is kept in the db
        return view, blob
    if op == "group":
        rank, state, page = args
        g = m.group(rank)
        if g is None:
            return len(m.groups)
        return GroupView(kind=m.kind, searchable=m.searchable, head=head(g), frames=g.frames,
                         files=g.files, rows=rows_of(m.members(g, page, state), m.row),
                         redactions=got.redactions)
    if op == "search":
        q, state, page = args
        return rows_of(m.search(q, state, page), m.row)
    raise ValueError(f"unknown explorer request {op!r}")


def page_view(got: ExploredDump, m: DumpModel, state: str = "") -> PageView:
    unit = "goroutines" if m.kind == "go" else "threads"
    groups = m.filtered(state)
    pools = list(m.pools.items())[:TOP_POOLS]
    return PageView(
        name=got.ref.name, size=got.size, redactions=got.redactions, dumps=len(got.models),
        file_warnings=list(got.warnings), kind=m.kind, title=m.title, total=m.total,
        n_groups=len(m.groups), states=m.states, searchable=m.searchable,
        warnings=list(m.warnings), state=state, groups=[head(g) for g in groups[:TOP_GROUPS]],
        more_groups=max(0, len(groups) - TOP_GROUPS), pools=pools,
        more_pools=max(0, len(m.pools) - TOP_POOLS),
        pool_states={p: m.pool_states[p] for p, _ in pools if p in m.pool_states},
        locks=m.locks, lock_svg=lock_graph(m.locks, "who holds, who waits", unit=unit),
        flame_svg=icicle(m.flame, f"all {m.total:,} stacks", unit=unit), summary=m.summary,
        prev_summary=got.models[-2].summary if len(got.models) >= 2 else None)


def pack(view: PageView) -> bytes:
    """A page view as kept in the database: zstd'd JSON (not pickle: what a
    database holds must not be able to run code here)."""
    return zstandard.ZstdCompressor(level=3).compress(
        json.dumps(view.to_json(), separators=(",", ":")).encode())


def unpack(blob: bytes) -> PageView:
    return PageView.from_json(json.loads(zstandard.ZstdDecompressor().decompress(
        blob, max_output_size=64 << 20)))


# --- in the serving process ---------------------------------------------------------------

def _retrieved(f: asyncio.Future[Any]) -> None:
    if not f.cancelled():
        f.exception()  # read by the request, or by nobody when it gave up


class DumpWorker:
    """The serving process's handle on its worker: started on first use,
    started again after it died."""

    def __init__(self, max_entries: int = MAX_ENTRIES, max_bytes: int = MAX_BYTES,
                 timeout: float = TIMEOUT_S) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.timeout = timeout
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                # forkserver: a clean process, not a fork of this one (its threads,
                # its sockets, its memory)
                self._pool = ProcessPoolExecutor(
                    max_workers=1, mp_context=multiprocessing.get_context("forkserver"),
                    initializer=_init, initargs=(self.max_entries, self.max_bytes))
            return self._pool

    def _submit(self, *call: Any) -> tuple[ProcessPoolExecutor, Future[Any]]:
        """In a thread: starting the worker waits for the forkserver (its first
        start: a new interpreter, ~0.3 s) and must not hold the event loop."""
        pool = self._executor()
        try:
            return pool, pool.submit(run, *call)
        except (BrokenProcessPool, RuntimeError):  # died between requests: a new one
            self._drop(pool)
            pool = self._executor()
            return pool, pool.submit(run, *call)

    def _drop(self, pool: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pool is pool:
                self._pool = None
        for p in list((getattr(pool, "_processes", None) or {}).values()):
            if p.is_alive():
                p.kill()  # only our own worker, by its handle
        # what was queued fails with BrokenProcessPool (its callers get WorkerDown)
        pool.shutdown(wait=False)

    def start(self) -> None:
        """Start the worker now, in the background (a server starting: the first
        dump opened then does not wait for a new process)."""
        asyncio.get_running_loop().run_in_executor(None, self._submit, "stats", ("", 0), (),
                                                   None)

    async def call(self, op: str, key: Key, *args: Any,
                   load: tuple[DumpRef, bytes] | None = None) -> Any:
        pool, fut = await asyncio.to_thread(self._submit, op, key, args, load)
        # shielded: a request that gives up does not cancel the pool's future (a
        # cancelled one breaks the pool's bookkeeping if the worker then dies)
        done = asyncio.wrap_future(fut)
        done.add_done_callback(_retrieved)
        try:
            return await asyncio.wait_for(asyncio.shield(done), self.timeout)
        except BrokenProcessPool as e:
            self._drop(pool)
            raise WorkerDown("the dump explorer's worker process stopped while reading "
                             "this dump; it is started again for the next request") from e
        except TimeoutError as e:
            self._drop(pool)
            raise WorkerDown(f"the dump explorer's worker did not answer within "
                             f"{self.timeout:g} s and was stopped") from e

    async def stats(self) -> dict[str, Any]:
        return dict(await self.call("stats", ("", 0)))

    def close(self) -> None:
        """Let the worker end after what it is doing (a parse: a second or so);
        what waits is dropped. Not killed: its callers' futures are left to
        resolve, and nothing is told at shutdown of a pool it broke."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
