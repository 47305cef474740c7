"""`/h/<host>`: every snapshot of one host on a time axis, with its threads,
TIME_WAIT and memory, so a slow leak over days shows as a rising line."""

from __future__ import annotations

from aiohttp import web

from bot.render.webviews import timeline_charts
from bot.web.pages.guard import identify, may, viewer
from bot.web.pages.render import error, page
from bot.web.pages.state import db, pages

#: snapshots drawn (the newest)
LIMIT = 200


def routes() -> list[web.RouteDef]:
    return [web.get("/h/{host}", host_page)]


async def host_page(request: web.Request) -> web.Response:
    host = request.match_info["host"][:255]
    await identify(request)  # strangers learn nothing, not even whether the host exists
    core = pages(request).core
    latest = await db(request, core.snapshots.list(host, 1))
    if not latest:
        raise error(request, 404, "No snapshots of this host",
                    f"hostsnap has no snapshot of {host}.")
    # the group the host's snapshots were taken in (the inventory may have moved it since)
    who = await viewer(request, host, group=latest[0].host_group)
    points = await db(request, core.snapshots.timeline(who, host, LIMIT))  # audited there
    # a host moved between groups: its snapshots of a group the viewer may not
    # see stay out (each snapshot's page would refuse them too)
    allowed: dict[str, bool] = {}
    shown = []
    for pt in points:
        g = pt.snapshot.host_group
        if g not in allowed:
            allowed[g] = await may(request, "view", g)
        if allowed[g]:
            shown.append(pt)
    hidden = sorted({pt.snapshot.host_group or "(none)" for pt in points
                     if not allowed[pt.snapshot.host_group]})
    return page(request, "host.html", host=host, points=list(reversed(shown)),
                charts=timeline_charts(shown), limit=LIMIT, group=latest[0].host_group,
                hidden=len(points) - len(shown), hidden_groups=hidden)
