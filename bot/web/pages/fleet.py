"""`/fleet/<id>,<id>,...`: the snapshots of a capture of several hosts, which
hosts stand out (collectors.analysis.fleet), drawn as bars per host."""

from __future__ import annotations

import re

from aiohttp import web

from bot.render.webviews import fleet_charts
from bot.web.pages.guard import viewer
from bot.web.pages.render import error, page
from bot.web.pages.snapshot import find
from bot.web.pages.state import db, pages

MAX_HOSTS = 300


def routes() -> list[web.RouteDef]:
    return [web.get("/fleet/{ids}", fleet)]


def fleet_path(snapshot_ids: list[str]) -> str:
    """The page of these snapshots (what a fleet message links to)."""
    return "/fleet/" + ",".join(snapshot_ids)


async def fleet(request: web.Request) -> web.Response:
    ids = [x for x in re.split(r"[,+ ]", request.match_info["ids"]) if x]
    unique = list(dict.fromkeys(ids))
    if not unique:
        raise error(request, 404, "No such fleet",
                    f"Name 1 to {MAX_HOSTS} snapshot ids separated by commas: /fleet/ID,ID,...")
    if len(unique) > MAX_HOSTS:  # before any database work: a long list costs nothing
        raise error(request, 400, "Too many snapshots",
                    f"This address names {len(unique):,} snapshots; a fleet page shows at "
                    f"most {MAX_HOSTS}. Split the list.")
    views = [await find(request, sid) for sid in unique]
    seen: set[tuple[str, str]] = set()
    who = None
    for v in views:  # every host's rights, checked now: one refusal refuses the page
        if (v.host, v.host_group) not in seen:
            seen.add((v.host, v.host_group))
            who = await viewer(request, v.host, group=v.host_group)
    assert who is not None
    summary = await db(request, pages(request).core.snapshots.fleet(who, views))  # audited
    return page(request, "fleet.html", views=views, f=summary, charts=fleet_charts(summary))
