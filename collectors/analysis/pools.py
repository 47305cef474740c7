"""Fold thread names into pools: `pool-12-thread-3` -> `pool-N-thread-N`.

Counting threads per folded name is what shows a leak at a glance (30 000 x
"Connection evictor", 5 000 x `pool-N-thread-N`). Numbers that identify a pool member
are folded; a port in a connector name (`http-nio-8080-exec-17`) is kept, because
two connectors are two pools.
"""

from __future__ import annotations

import re

# A digit run that starts a token (`-12`, `#3`, ` 7`) or ends the name (`CompilerThread0`).
_NUMBER = re.compile(r"(?<![A-Za-z0-9])\d+|(?<=[A-Za-z])\d+$")
# Tomcat/Jetty/Undertow connector names carry their port: keep it.
_PORT = re.compile(r"(?:nio2?|bio|apr|ajp|jsse|http|https)-(\d{2,5})-")
_EXECUTOR = re.compile(r"pool-(\d+)-thread-(\d+)$")


def fold_name(name: str) -> str:
    """Pool name of a thread; the same name always folds the same way."""
    # Cheap substring tests first: the port regex is only needed for connector names.
    port = _PORT.search(name) if ("io-" in name or "pr-" in name or "jp-" in name
                                  or "ttp" in name) else None
    if port is None:
        return _NUMBER.sub("N", name)
    head, tail = name[: port.start(1)], name[port.end(1) :]
    return _NUMBER.sub("N", head) + port.group(1) + _NUMBER.sub("N", tail)


def executor_pool_id(name: str) -> int | None:
    """N of a default `Executors` thread name `pool-N-thread-M`: the Nth pool ever created
    by the JVM, so a high N means many executors were built (and maybe never shut down)."""
    m = _EXECUTOR.match(name)
    return int(m.group(1)) if m else None


class NameFolder:
    """fold_name with a cache keyed by the name's shape.

    Names repeat ("Connection evictor" x 30 000), but most pool members differ only in
    their trailing number (`pool-7-thread-1`, `-2`, ...; `http-nio-8080-exec-17`), so a
    cache keyed by the raw name would miss on every thread. A trailing digit run always
    folds to "N" (it starts a token, or ends the name after a letter), and folding the
    rest does not depend on it, so the cache is keyed by the name without it: one
    `str.rstrip` and one dict lookup per thread, and equal pools share one string."""

    __slots__ = ("_stem", "_whole")

    def __init__(self) -> None:
        self._whole: dict[str, str] = {}  # names without a trailing number
        self._stem: dict[str, str] = {}  # name minus its trailing number -> pool

    def __call__(self, name: str) -> str:
        stem = name.rstrip("0123456789")
        if stem == name:
            pool = self._whole.get(name)
            if pool is None:
                pool = self._whole[name] = fold_name(name)
            return pool
        pool = self._stem.get(stem)
        if pool is None:
            # `\d` also matches non-ASCII digits (and `$` a final newline): when the stem
            # ends with one, the digit run is longer than what rstrip removed, so fold
            # the whole name and do not cache it under the stem.
            if stem[-1:].isdecimal() or stem.endswith("\n"):
                return fold_name(name)
            pool = self._stem[stem] = fold_name(stem) + "N"
        return pool
