"""`/s/<id>/dump/<n>`: the thread-dump explorer (JVM and Go).

The page ships the dump's shape only: states, pools, the biggest stack groups
(collapsed), the lock graph and an icicle of all stacks; a group's frames and
threads load when it is opened (`/group/<k>`, a fragment), and the search runs
here, paged (`/search?q=&state=`). The parsed dump comes from the core's cache
(SnapshotService.explore: redacted, audited), so a 30 000-thread dump is parsed
once, not per click."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bot.render.dumpview import DumpModel
from bot.render.svg.bars import Bar, bars
from bot.render.svg.flame import icicle
from bot.render.svg.lockgraph import lock_graph
from bot.render.web_snapshot import dumps as dump_files
from bot.snapshots.dumps import ExploredDump
from bot.snapshots.service import Viewer
from bot.store.service import SnapshotNotFound
from bot.store.views import SnapshotView
from bot.web.pages.guard import viewer
from bot.web.pages.render import error, fragment, page
from bot.web.pages.snapshot import find
from bot.web.pages.state import pages
from collectors.analysis.dumps import DumpDiff

#: stack groups listed in the page (the rest are reached by the search)
TOP_GROUPS = 100
TOP_POOLS = 40


def routes() -> list[web.RouteDef]:
    base = "/s/{sid}/dump/{n:\\d+}"
    return [web.get(base, explorer), web.get(base + "/search", explorer),
            web.get(base + "/group/{k:\\d+}", group)]


async def _open(request: web.Request) -> tuple[SnapshotView, Viewer, ExploredDump, DumpModel]:
    view = await find(request, request.match_info["sid"])
    who = await viewer(request, view.host, group=view.host_group)
    n = int(request.match_info["n"])
    try:
        got = await pages(request).core.snapshots.explore(who, view, n)
    except SnapshotNotFound as e:
        raise error(request, 404, "No such thread dump", str(e)[:300]) from None
    if got.model is None:
        raise error(request, 404, "Not a thread dump hostsnap can read",
                    f"{got.ref.name}: " + "; ".join(got.warnings)[:500])
    return view, who, got, got.model


def _int(request: web.Request, key: str, default: int = 1) -> int:
    try:
        return max(1, min(int(request.query.get(key, default)), 1_000_000))
    except ValueError:
        return default


async def explorer(request: web.Request) -> web.Response:
    view, who, got, m = await _open(request)
    state = request.query.get("state", "")[:64]
    q = request.query.get("q", "")[:200].strip()
    searching = request.path.endswith("/search")
    results = m.search(q, state, _int(request, "page")) if searching and m.searchable else None
    core = pages(request).core
    grown = await core.snapshots.dump_growth(who, view, got)
    core.snapshots.warm_dumps(view)  # the snapshot's other dumps, before they are clicked
    groups = m.filtered(state)
    return page(
        request, "explorer.html", v=view, d=got, m=m, state=state, q=q, results=results,
        searching=searching, groups=groups[:TOP_GROUPS], more_groups=len(groups) - TOP_GROUPS,
        pools=list(m.pools.items())[:TOP_POOLS], more_pools=max(0, len(m.pools) - TOP_POOLS),
        others=[x for x in dump_files(view) if x.n != got.ref.n],
        unit="goroutines" if m.kind == "go" else "threads",
        lock_svg=lock_graph(m.locks, "who holds, who waits",
                            unit="goroutines" if m.kind == "go" else "threads"),
        flame_svg=icicle(m.flame, f"all {m.total:,} stacks",
                         unit="goroutines" if m.kind == "go" else "threads"),
        growth=_growth(grown), base=f"/s/{view.id}/dump/{got.ref.n}", row=m.row)


def _growth(grown: tuple[str, DumpDiff] | None) -> dict[str, Any] | None:
    """The diff against the process's previous dump, with its bars drawn."""
    if grown is None:
        return None
    since, d = grown
    groups = [*d.changed, *d.appeared][:15]
    return {
        "since": since, "diff": d,
        "pools_svg": bars([Bar(p.name, p.after, before=p.before) for p in d.pools[:15]],
                          "threads per pool, before → after") if d.pools else "",
        "groups_svg": bars([Bar(g.top_frame or g.key, g.after, before=g.before)
                            for g in groups], "stack groups, before → after")
        if groups else "",
    }


async def group(request: web.Request) -> web.Response:
    view, _, got, m = await _open(request)
    g = m.group(int(request.match_info["k"]))
    if g is None:
        raise error(request, 404, "No such stack group",
                    f"{got.ref.name} has {len(m.groups)} stack groups.")
    state = request.query.get("state", "")[:64]
    rows = m.members(g, _int(request, "page"), state)
    return fragment(request, "explorer_group.html", v=view, m=m, g=g, rows=rows, state=state,
                    base=f"/s/{view.id}/dump/{got.ref.n}", row=m.row)
