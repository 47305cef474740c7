"""`/alerts`: the alerts received and what became of each (captured, covered,
unknown host, ...), newest first; only those of hosts the viewer may see."""

from __future__ import annotations

from aiohttp import web

from bot.web.pages.guard import identify, viewer
from bot.web.pages.render import page
from bot.web.pages.state import db, pages

LIMIT = 200


def routes() -> list[web.RouteDef]:
    return [web.get("/alerts", alerts_page)]


async def alerts_page(request: web.Request) -> web.Response:
    who = await viewer(request)
    ident = await identify(request)
    p = pages(request)
    host = request.query.get("host", "").strip()[:255] or None
    outcome = request.query.get("outcome", "").strip()[:32] or None

    async def may_view(group: str) -> bool:
        d = await p.authz.decide("view", user=ident.user, channel=ident.channel, group=group)
        return d.allowed

    # the local operator (`hostsnap web`) has every right, as the CLI
    listed = await db(request, p.core.alert_history.recent(
        who, LIMIT, host=host, outcome=outcome,
        may_view=None if ident.via == "local" else may_view))
    shown = listed.rows
    outcomes = sorted({a.outcome for a in shown} | ({outcome} if outcome else set()))
    return page(request, "alerts.html", rows=shown, hidden=listed.hidden, host=host or "",
                outcome=outcome or "", outcomes=outcomes, limit=LIMIT)
