"""`/s/<id>`: one snapshot, evidence first; `/`: the snapshots this viewer may see.

Fast by design: the page reads the stored view (findings, parsed summaries,
collectors, the list of raw files) and never parses a dump; the dump
explorer (`/s/<id>/dump/<n>`) does that on demand."""

from __future__ import annotations

from aiohttp import web

from bot.render.keyfacts import key_facts
from bot.render.verdict import verdict
from bot.render.web_snapshot import snapshot_context
from bot.store.service import SnapshotNotFound
from bot.store.views import SnapshotView
from bot.web.pages.guard import identify, may, viewer
from bot.web.pages.render import error, page
from bot.web.pages.state import db, pages


def routes() -> list[web.RouteDef]:
    return [web.get("/", index), web.get("/s/{sid}", show)]


async def find(request: web.Request, sid: str) -> SnapshotView:
    """The snapshot (not yet shown to anyone), or a clear 404 page. Whoever
    asks must be signed in first: an unknown id tells nothing to strangers."""
    await identify(request)
    try:
        return await db(request, pages(request).core.snapshots.find(sid))
    except SnapshotNotFound as e:
        raise error(request, 404, "No such snapshot",
                    f"{str(e).strip(chr(39))[:200]}. The snapshot may have been deleted, or "
                    "the link is cut.") from None


async def show(request: web.Request) -> web.Response:
    view = await find(request, request.match_info["sid"])
    who = await viewer(request, view.host, group=view.host_group)
    core = pages(request).core
    view = await db(request, core.snapshots.show(who, view))  # audited: interface "web"
    core.snapshots.warm_dumps(view)  # parse its dumps now: the explorer opens from the cache
    prev = await db(request, core.snapshots.previous(view.id))
    return page(request, "snapshot.html", v=view, verdict=verdict(view),
                facts=key_facts(view, core.settings.thresholds.host),
                prev=prev, may_download=await may(request, "raw", view.host_group),
                **snapshot_context(view))


async def index(request: web.Request) -> web.Response:
    who = await viewer(request)
    p = pages(request)
    items = await db(request, p.core.snapshots.list(None, limit=50))
    shown, hidden = [], 0
    verdicts: dict[str, bool] = {}
    ident = await identify(request)
    for s in items:
        if ident.via == "local":
            shown.append(s)
            continue
        if s.host_group not in verdicts:
            d = await p.authz.decide("view", user=ident.user, channel=ident.channel,
                                     group=s.host_group)
            verdicts[s.host_group] = d.allowed
        if verdicts[s.host_group]:
            shown.append(s)
        else:
            hidden += 1
    return page(request, "index.html", items=shown, hidden=hidden, viewer=who)
