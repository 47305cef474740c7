"""`/s/<id>/dump/<n>`: the thread-dump explorer (JVM and Go).

The page ships the dump's shape only: states, pools, the biggest stack groups
(collapsed), the lock graph and an icicle of all stacks; a group's frames and
threads load when it is opened (`/group/<k>`, a fragment), and the search runs
here, paged (`/search?q=&state=`). The parsed dump lives in the explorer's
worker process (SnapshotService.explore: redacted, audited, the unfiltered
page kept in the database), so a 30 000-thread dump is parsed once, never on
this event loop, and a page gets only the slice it shows."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, TypeVar

from aiohttp import web

from bot.access.viewer import Viewer
from bot.render.svg.bars import Bar, bars
from bot.render.web_snapshot import dumps as dump_files
from bot.snapshots.dumps import NoSuchGroup, NotADump, WorkerDown
from bot.store.service import SnapshotNotFound
from bot.store.views import SnapshotView
from bot.web.pages.guard import viewer
from bot.web.pages.render import error, fragment, page
from bot.web.pages.snapshot import find
from bot.web.pages.state import pages
from collectors.analysis.dumps import DumpDiff

T = TypeVar("T")


def routes() -> list[web.RouteDef]:
    base = "/s/{sid}/dump/{n:\\d+}"
    return [web.get(base, explorer), web.get(base + "/search", explorer),
            web.get(base + "/group/{k:\\d+}", group)]


async def _who(request: web.Request) -> tuple[SnapshotView, Viewer, int]:
    view = await find(request, request.match_info["sid"])
    who = await viewer(request, view.host, group=view.host_group)
    return view, who, int(request.match_info["n"])


async def _ask(request: web.Request, work: Awaitable[T]) -> T:
    """The core's answer, or the page saying why there is none."""
    try:
        return await work
    except NotADump as e:
        raise error(request, 404, "Not a thread dump hostsnap can read", str(e)[:500]) from None
    except NoSuchGroup as e:
        raise error(request, 404, "No such stack group", str(e)[:300]) from None
    except SnapshotNotFound as e:
        raise error(request, 404, "No such thread dump", str(e)[:300]) from None
    except WorkerDown as e:
        raise error(request, 503, "The dump explorer is restarting",
                    f"{e}. Reload the page in a moment.") from None


def _int(request: web.Request, key: str, default: int = 1) -> int:
    try:
        return max(1, min(int(request.query.get(key, default)), 1_000_000))
    except ValueError:
        return default


async def explorer(request: web.Request) -> web.Response:
    view, who, n = await _who(request)
    state = request.query.get("state", "")[:64]
    q = request.query.get("q", "")[:200].strip()
    searching = request.path.endswith("/search")
    snapshots = pages(request).core.snapshots
    results = None
    if searching:
        m, results = await _ask(request, snapshots.explore_search(
            who, view, n, q, state, _int(request, "page")))
        if not m.searchable:
            results = None
    else:
        m = await _ask(request, snapshots.explore(who, view, n, state))
    grown = await _ask(request, snapshots.dump_growth(who, view, n, m))
    snapshots.warm_dumps(view)  # this dump's groups and the others, before they are clicked
    return page(
        request, "explorer.html", v=view, m=m, state=state, q=q, results=results,
        searching=searching, others=[x for x in dump_files(view) if x.n != n],
        unit="goroutines" if m.kind == "go" else "threads",
        growth=_growth(grown), base=f"/s/{view.id}/dump/{n}")


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
    view, who, n = await _who(request)
    state = request.query.get("state", "")[:64]
    g = await _ask(request, pages(request).core.snapshots.explore_group(
        who, view, n, int(request.match_info["k"]), state, _int(request, "page")))
    return fragment(request, "explorer_group.html", v=view, g=g, rows=g.rows, state=state,
                    base=f"/s/{view.id}/dump/{n}")
