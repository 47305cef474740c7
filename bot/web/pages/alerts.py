"""`/alerts`: the alerts received and what became of each (captured, covered,
unknown host, ...), newest first; only those of hosts the viewer may see."""

from __future__ import annotations

from aiohttp import web

from bot.alerts.ledger import Ledger
from bot.alerts.views import AlertView
from bot.web.pages.guard import identify, viewer
from bot.web.pages.render import page
from bot.web.pages.state import pages

LIMIT = 200


def routes() -> list[web.RouteDef]:
    return [web.get("/alerts", alerts_page)]


async def alerts_page(request: web.Request) -> web.Response:
    await viewer(request)
    ident = await identify(request)
    p = pages(request)
    host = request.query.get("host", "").strip()[:255] or None
    outcome = request.query.get("outcome", "").strip()[:32] or None
    rows = await Ledger(p.core.store).recent(LIMIT, host=host, outcome=outcome)
    shown: list[AlertView] = []
    hidden = 0
    allowed: dict[str, bool] = {}
    for a in rows:
        if ident.via == "local":  # the local operator: as the CLI, every right
            shown.append(a)
            continue
        entry = p.core.inventory.hosts.get(a.host)
        group = entry.group if entry is not None else ""
        if group not in allowed:
            d = await p.authz.decide("view", user=ident.user, channel=ident.channel,
                                     group=group)
            allowed[group] = d.allowed
        if allowed[group]:
            shown.append(a)
        else:
            hidden += 1
    outcomes = sorted({a.outcome for a in shown} | ({outcome} if outcome else set()))
    return page(request, "alerts.html", rows=shown, hidden=hidden, host=host or "",
                outcome=outcome or "", outcomes=outcomes, limit=LIMIT)
