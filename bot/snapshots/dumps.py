"""The thread-dump explorer's use case, in the serving process: what a page of
a stored dump shows, asked of the explorer's worker process (dumpworker.py:
the parse and the parsed dumps live there, off this event loop).

A dump's unfiltered page (its groups, counts, states, lock graph, icicle) is
kept in the database once computed (Store.put_dump_view, keyed by snapshot,
dump and VIEW_VERSION + RULES_VERSION): a first view on another replica or
after a restart reads it (~10 ms) instead of parsing (0.3-1 s). Groups,
state filters and searches need the parsed dump: the worker parses it on
first need, from bytes this process reads through the store and sends once.
Audits stay in SnapshotService, per look."""

from __future__ import annotations

import asyncio
import re
from collections import OrderedDict
from typing import Any

from bot.render.dumpview import VIEW_VERSION, GroupView, PageView, Rows
from bot.render.web_snapshot import dumps as dump_files
from bot.snapshots.dumpworker import (
    DumpRef,
    DumpWorker,
    ExploredDump,
    Key,
    Missing,
    Unreadable,
    WorkerDown,
    explore_bytes,
    unpack,
)
from bot.store.service import SnapshotNotFound, Store
from bot.store.views import SnapshotView
from collectors.analysis.dumps import DumpDiff, diff_goroutine_dumps, diff_thread_dumps
from collectors.analysis.stage import RULES_VERSION

__all__ = ["DumpExplorer", "DumpRef", "ExploredDump", "NoSuchGroup", "NotADump", "WorkerDown",
           "earlier", "explore_bytes", "growth", "refs_of"]

#: a kept page bigger than this is unpacked in a thread (JSON of a big icicle)
UNPACK_INLINE = 64 * 1024


class NotADump(SnapshotNotFound):
    """The file is there, but not a thread dump the parsers read."""

    def __init__(self, name: str, warnings: list[str]) -> None:
        super().__init__(f"{name}: " + "; ".join(warnings))
        self.name = name
        self.warnings = warnings


class NoSuchGroup(SnapshotNotFound):
    pass


class DumpExplorer:
    def __init__(self, store: Store, worker: DumpWorker | None = None) -> None:
        self.store = store
        self.worker = worker or DumpWorker()
        self.version = f"{VIEW_VERSION}.{RULES_VERSION}"
        self._loading: dict[Key, asyncio.Task[None]] = {}
        self._warming: set[asyncio.Task[None]] = set()
        #: pages known to be kept in the database (bounded): a warm-up skips them
        self._kept: OrderedDict[Key, None] = OrderedDict()
        self._closed = False

    async def page(self, ref: DumpRef, state: str = "") -> PageView:
        """The explorer page of the dump, its groups in `state` (all when empty)."""
        if not state:
            blob = await self.store.get_dump_view(ref.snapshot_id, ref.n, self.version)
            if blob is not None:
                self._keep((ref.snapshot_id, ref.n))
                if len(blob) > UNPACK_INLINE:
                    return await asyncio.to_thread(unpack, blob)
                return unpack(blob)
        got = await self._ask(ref, "page", state)
        assert isinstance(got, tuple)
        view, blob = got
        if blob is not None:
            await self.store.put_dump_view(ref.snapshot_id, ref.n, self.version, blob)
            self._keep((ref.snapshot_id, ref.n))
        assert isinstance(view, PageView)
        return view

    async def group(self, ref: DumpRef, rank: int, state: str = "", page: int = 1) -> GroupView:
        got = await self._ask(ref, "group", rank, state, page)
        if isinstance(got, int):
            raise NoSuchGroup(f"{ref.name} has {got} stack groups.")
        assert isinstance(got, GroupView)
        return got

    async def search(self, ref: DumpRef, q: str, state: str = "", page: int = 1) -> Rows:
        got = await self._ask(ref, "search", q, state, page)
        assert isinstance(got, Rows)
        return got

    def warm(self, refs: list[DumpRef]) -> None:
        """Parse these dumps in the worker now, one after the other (the page's
        order), and keep their pages: the explorer then opens without waiting."""
        todo = refs[: self.worker.max_entries]
        if not todo or self._closed:  # shutting down: no new worker for a warm-up
            return
        task = asyncio.ensure_future(self._warm(todo))
        self._warming.add(task)
        task.add_done_callback(self._warmed)

    async def _warm(self, refs: list[DumpRef]) -> None:
        for ref in refs:
            try:
                # parsed in the worker even when its page is kept (another replica,
                # before a restart): a group opened or a search needs the dump
                await self._ask(ref, "warm")
                if (ref.snapshot_id, ref.n) not in self._kept:
                    await self.page(ref)  # computed from the parse, kept
            except NotADump:
                continue

    def _warmed(self, task: asyncio.Task[None]) -> None:
        self._warming.discard(task)
        if not task.cancelled():
            task.exception()  # a failed warm-up is retried by the first real view

    def _keep(self, key: Key) -> None:
        self._kept[key] = None
        self._kept.move_to_end(key)
        while len(self._kept) > 4096:
            self._kept.popitem(last=False)

    async def _ask(self, ref: DumpRef, op: str, *args: object) -> object:
        key = (ref.snapshot_id, ref.n)
        got = await self.worker.call(op, key, *args)
        if isinstance(got, Missing):
            await self._load(ref)
            got = await self.worker.call(op, key, *args)
        if isinstance(got, Missing):  # dropped again before we asked: its bytes along
            _, data = await self.store.get_artifact(ref.snapshot_id, ref.name)
            got = await self.worker.call(op, key, *args, load=(ref, data))
        if isinstance(got, Unreadable):
            raise NotADump(got.name, got.warnings)
        return got

    async def _load(self, ref: DumpRef) -> None:
        """Send the dump's bytes to the worker, once even when several ask at once."""
        key = (ref.snapshot_id, ref.n)
        task = self._loading.get(key)
        if task is None:
            task = asyncio.ensure_future(self._send(ref))
            self._loading[key] = task
        # a request that gives up (the browser left) does not cancel the others' load
        await asyncio.shield(task)

    async def _send(self, ref: DumpRef) -> None:
        try:
            _, data = await self.store.get_artifact(ref.snapshot_id, ref.name)
            await self.worker.call("warm", (ref.snapshot_id, ref.n), load=(ref, data))
        finally:
            self._loading.pop((ref.snapshot_id, ref.n), None)

    async def close(self) -> None:
        """Stop warming and loading, and wait for it: their database reads must
        end before the store closes (a bench server stopped mid-parse printed
        aiosqlite's "Event loop is closed"); then the worker."""
        self._closed = True
        pending = [*self._warming, *self._loading.values()]
        for t in pending:
            t.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        self.worker.close()


_JVM_FILE = re.compile(r"^jvm/(\d+)-dump(\d+)\.txt$")


def earlier(refs: list[DumpRef], ref: DumpRef) -> DumpRef | None:
    """The dump of the same process taken just before this one (jvm/811-dump2.txt
    -> jvm/811-dump1.txt), if the snapshot holds it."""
    m = _JVM_FILE.match(ref.name)
    if m is None:
        return None
    want = f"jvm/{m.group(1)}-dump{int(m.group(2)) - 1}.txt"
    return next((r for r in refs if r.name == want), None)


def refs_of(view: SnapshotView) -> list[DumpRef]:
    return [DumpRef(view.id, d.n, d.name, d.kind) for d in dump_files(view)]


def growth(kind: str, before: dict[str, Any], after: dict[str, Any]) -> DumpDiff:
    """What changed between two dumps of one process (their summaries)."""
    if kind == "jvm":
        return diff_thread_dumps(before, after)
    return diff_goroutine_dumps(before, after)
