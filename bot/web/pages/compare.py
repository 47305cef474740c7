"""`/compare/<a>/<b>`: two snapshots side by side, the diff the CLI and Slack
compute (SnapshotService.diff), with the growth drawn as before -> after bars."""

from __future__ import annotations

from aiohttp import web

from bot.render.webviews import compare_context
from bot.web.pages.guard import viewer
from bot.web.pages.render import page
from bot.web.pages.snapshot import find
from bot.web.pages.state import db, pages


def routes() -> list[web.RouteDef]:
    return [web.get("/compare/{a}/{b}", compare)]


async def compare(request: web.Request) -> web.Response:
    a = await find(request, request.match_info["a"])
    b = await find(request, request.match_info["b"])
    # both hosts' rights, each checked now (a comparison shows both snapshots)
    who = await viewer(request, a.host, group=a.host_group)
    if (b.host, b.host_group) != (a.host, a.host_group):
        await viewer(request, b.host, group=b.host_group)
    d = await db(request, pages(request).core.snapshots.diff(who, a, b))  # audited there
    older, newer = (a, b) if d.older == a.id else (b, a)
    return page(request, "compare.html", d=d, older=older, newer=newer, **compare_context(d))
