"""HTML out of Jinja2 templates: autoescape on for everything (a thread name,
label or file content is data, never markup), undefined names an error."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import jinja2
from aiohttp import web
from markupsafe import Markup

from bot.render.webviews import human_size
from bot.web.pages.state import IS_PAGE, WHO, pages

_ERRORS: dict[int, type[web.HTTPException]] = {
    400: web.HTTPBadRequest, 401: web.HTTPUnauthorized, 403: web.HTTPForbidden,
    404: web.HTTPNotFound, 500: web.HTTPInternalServerError,
    503: web.HTTPServiceUnavailable,
}


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("bot.web", "templates"),
        autoescape=True,  # every template, whatever its name
        undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True,
    )
    env.filters["size"] = human_size
    env.filters["age"] = age
    env.filters["when"] = when
    env.globals["svg"] = svg
    return env


def svg(markup: str) -> Markup:
    """An SVG drawn by bot/render/svg (which escapes every text it puts in)."""
    return Markup(markup)  # the drawing functions escape their text


def when(t: datetime | None) -> str:
    if t is None:
        return ""
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return t.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def age(seconds: float | int | None) -> str:
    if seconds is None:
        return ""
    s = int(seconds)
    for unit, n in (("d", 86400), ("h", 3600), ("min", 60)):
        if s >= n:
            return f"{s // n} {unit}"
    return f"{s} s"


def _ctx(request: web.Request, ctx: dict[str, Any]) -> dict[str, Any]:
    request[IS_PAGE] = True
    return {"who": request.get(WHO), "path": request.path, **ctx}


#: a link to this server in markup: an attribute whose value starts with one "/"
#: (text is escaped, so a quote in data never makes one)
_LOCAL_LINK = re.compile(r'(\s(?:href|src|action|data-src)=")/(?!/)')


def html(request: web.Request, template: str, **ctx: Any) -> str:
    p = pages(request)
    out = p.env.get_template(template).render(_ctx(request, ctx))
    prefix = p.settings.prefix
    if prefix:
        # behind a proxy that serves the pages under a path (base_url
        # https://example.com/hostsnap), every page's links, the explorer's and
        # the drawings' included, start with that path: done here, once for all
        out = _LOCAL_LINK.sub(lambda m: f"{m.group(1)}{prefix}/", out)
    return out


def page(request: web.Request, template: str, status: int = 200, **ctx: Any) -> web.Response:
    """A whole page (the template extends base.html)."""
    return web.Response(text=html(request, template, **ctx), status=status,
                        content_type="text/html", charset="utf-8")


def fragment(request: web.Request, template: str, status: int = 200, **ctx: Any
             ) -> web.Response:
    """A piece of HTML loaded on demand into a page (no base.html around it)."""
    return page(request, template, status, **ctx)


def error(request: web.Request, status: int, title: str, message: str,
          **extra: Any) -> web.HTTPException:
    """An HTTP error whose body is a small page saying what happened and what to do."""
    body = html(request, "error.html", status=status, title=title, message=message, **extra)
    cls = _ERRORS.get(status, web.HTTPBadRequest)
    return cls(text=body, content_type="text/html")
