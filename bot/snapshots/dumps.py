"""The thread-dump explorer's use case: a stored dump, redacted, parsed by the
project's parsers and grouped (bot.render.dumpview), kept in memory.

A 30 000-thread dump takes ~0.3 s to read, redact and parse, more than a page
may take, and every group expanded or search typed asks for the same dump
again: so the parsed dump is kept per (snapshot, n) in a small LRU bounded by
count and by the dumps' size, parsed in a worker thread (never on the event
loop), once even when several requests ask at the same time."""

from __future__ import annotations

import asyncio
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from bot.redact import redact_bytes
from bot.render.dumpview import DumpModel, build
from bot.render.web_snapshot import dumps as dump_files
from bot.store.views import SnapshotView
from collectors.analysis.dumps import (
    DumpDiff,
    diff_goroutine_dumps,
    diff_thread_dumps,
    parse_dump,
)

#: parsed dumps kept, and the raw size they may add up to (a parsed dump takes
#: a few times its text in memory)
MAX_ENTRIES = 8
MAX_BYTES = 160 * 1024 * 1024


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
    """Redact, parse and group one stored dump file: CPU-bound, for a worker thread.
    What the pages show of it is what a raw file sent off this machine shows."""
    text, redactions = redact_bytes(data)
    parsed, warnings = parse_dump(text, ref.kind if ref.kind == "jvm" else None)
    return ExploredDump(ref=ref, size=len(data), redactions=redactions,
                        models=[build(d) for d in parsed], warnings=warnings)


class DumpCache:
    """LRU of explored dumps; concurrent misses of one key share one load."""

    def __init__(self, max_entries: int = MAX_ENTRIES, max_bytes: int = MAX_BYTES) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._items: OrderedDict[tuple[str, int], ExploredDump] = OrderedDict()
        self._loading: dict[tuple[str, int], asyncio.Task[ExploredDump]] = {}

    def peek(self, key: tuple[str, int]) -> ExploredDump | None:
        hit = self._items.get(key)
        if hit is not None:
            self._items.move_to_end(key)
        return hit

    async def get(self, key: tuple[str, int],
                  load: Callable[[], Awaitable[ExploredDump]]) -> ExploredDump:
        hit = self.peek(key)
        if hit is not None:
            return hit
        task = self._loading.get(key)
        if task is None:
            task = asyncio.ensure_future(self._load(key, load))
            self._loading[key] = task
        # a request that gives up (the browser left) does not cancel the others' load
        return await asyncio.shield(task)

    async def _load(self, key: tuple[str, int],
                    load: Callable[[], Awaitable[ExploredDump]]) -> ExploredDump:
        try:
            got = await load()
            self._put(key, got)
            return got
        finally:
            self._loading.pop(key, None)

    def _put(self, key: tuple[str, int], item: ExploredDump) -> None:
        self._items[key] = item
        self._items.move_to_end(key)
        while len(self._items) > 1 and (
                len(self._items) > self.max_entries
                or sum(x.size for x in self._items.values()) > self.max_bytes):
            self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


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


def growth(before: DumpModel, after: DumpModel) -> DumpDiff:
    """What changed between two dumps of one process (their summaries)."""
    if after.kind == "jvm":
        return diff_thread_dumps(before.summary, after.summary)
    return diff_goroutine_dumps(before.summary, after.summary)
