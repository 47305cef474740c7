"""The pages: the third interface over the application core (bot/app.py),
next to the CLI and Slack. `attach_pages` puts them on an aiohttp app: the
one `hostsnap serve` runs (with /healthz) or `hostsnap web`'s own.

Each page module has `routes()`; its handlers call guard.viewer() first, then
the core's use cases (audited and redacted there), then render.page()."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from aiohttp import web

from bot.access.authz import Authorizer, MembershipCache
from bot.access.links import OneTimeTokens, Signer
from bot.settings.web import WebSettings
from bot.store.faults import from_database, unavailable
from bot.web.pages import alerts, compare, explorer, fleet, hosts, raw, snapshot
from bot.web.pages.render import environment, error, html
from bot.web.pages.state import (
    HOLDER_COOKIE,
    IS_PAGE,
    PAGES,
    SESSION_COOKIE,
    SET_SESSION,
    DatabaseStalled,
    Pages,
)

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parents[1] / "static"

#: every page module; W2's modules add their line here
MODULES = [snapshot, raw, explorer, compare, hosts, fleet, alerts]

#: what a page may load: only this server's own CSS, JS and images
CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # links carry tokens
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_COMPILING: web.AppKey[asyncio.Future[None]] = web.AppKey("pages_compiling")


def _page(handler: Handler) -> Handler:
    async def marked(request: web.Request) -> web.StreamResponse:
        request[IS_PAGE] = True  # security headers, even on an error
        try:
            return await handler(request)
        except web.HTTPException:
            raise
        except Exception as e:
            # each database use is bounded by database_timeout (bot/store): a
            # database away or stalled is a clear 503 page in that time, not a 500
            if not (isinstance(e, DatabaseStalled) or (unavailable(e) and from_database(e))):
                # a bug: a page that says so and where to look, not aiohttp's
                # bare "500 Internal Server Error" (nor the exception's text)
                ref = secrets.token_hex(4)
                log.exception("page %s failed (ref %s)", request.path[:200], ref)
                raise error(request, 500, "This page failed",
                            f"hostsnap could not show this page: an error on its side, "
                            f"logged with reference {ref}. Reload once; if it fails again, "
                            f"give that reference to whoever runs hostsnap. The snapshot "
                            f"itself is not affected.") from None
            log.error("page %s not served: database unavailable: %s", request.path,
                      e or type(e).__name__)
            raise error(request, 503, "Database unavailable",
                        "hostsnap's database does not answer; nothing was shown. Try again "
                        "in a minute.") from None

    marked.__name__ = getattr(handler, "__name__", "page")
    return marked


async def _no_slack(group: str) -> set[str]:
    raise RuntimeError("Slack is not connected here")


def attach_pages(app: web.Application, core: App, settings: WebSettings, *,
                 authz: Authorizer | None = None, signer: Signer | None = None,
                 onetime: OneTimeTokens | None = None) -> Pages:
    """Serve the pages on `app`. `authz`: the Slack bot's authorizer (it can
    ask Slack for user group members); `signer`: default from [web]'s secret
    (raises WebConfigError when it is missing); `onetime`: `hostsnap web`'s
    tokens (its signer has a secret of its own process)."""
    if authz is None:
        authz = Authorizer(core.settings.authz, MembershipCache(
            _no_slack, core.settings.slack.usergroup_cache_s))
    if signer is None:
        signer = Signer(settings.secret() if onetime is None else secrets.token_bytes(32))
    state = Pages(core, settings, signer, authz, environment(), onetime)
    if plain_http(settings):
        log.warning("[web].base_url %s is plain http: the links (each signs someone in) "
                    "and the session cookies cross the network readable by anyone on the "
                    "way. Put a TLS proxy in front and make base_url https://.",
                    settings.base_url)
    app[PAGES] = state
    # behind a proxy under a path (base_url https://example.com/hostsnap), the
    # pages answer with and without it: whether the proxy strips it or not
    roots = ["", settings.prefix] if settings.prefix else [""]
    for root in roots:
        for module in MODULES:
            for route in module.routes():
                assert isinstance(route, web.RouteDef)
                web.RouteDef(route.method, root + route.path, _page(route.handler),
                             route.kwargs).register(app.router)
        app.router.add_static(f"{root}/static/", STATIC, append_version=False)
    app.middlewares.append(_no_such_page)
    app.on_response_prepare.append(_prepare)
    app.on_startup.append(_compile_templates)
    app.on_startup.append(_start_explorer)
    app.on_cleanup.append(_stop_explorer)
    return state


async def _start_explorer(app: web.Application) -> None:
    """The dump explorer's worker process, started with the server (in the
    background): the first dump opened does not wait for a new interpreter."""
    app[PAGES].core.snapshots.dumps.worker.start()


async def _stop_explorer(app: web.Application) -> None:
    await app[PAGES].core.snapshots.dumps.close()


def plain_http(settings: WebSettings) -> bool:
    """base_url is http:// to another machine than this one."""
    url = urlsplit(settings.base_url or "")
    if url.scheme != "http":
        return False
    host = url.hostname or ""
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host != "localhost"


async def _compile_templates(app: web.Application) -> None:
    """Jinja compiles a template at its first use (~100 ms for them all): done
    in a thread as the server starts, so no first visitor waits for it, and
    the start-up of `serve` does not either."""
    env = app[PAGES].env

    def compile_all() -> None:
        for name in env.list_templates(extensions=["html"]):
            env.get_template(name)

    task = asyncio.get_running_loop().run_in_executor(None, compile_all)
    app[_COMPILING] = task  # referenced until done; an error shows at first use instead


#: what a mistyped address is told (the pages there are)
PAGES_HELP = ("The pages are: / (the snapshots you may see), /s/ID (a snapshot), /h/HOST (a "
              "host's timeline), /compare/ID/ID, /fleet/ID,ID,... and /alerts.")


@web.middleware
async def _no_such_page(request: web.Request, handler: Handler) -> web.StreamResponse:
    """An address no route matches is a page saying so (with the page's
    headers), not aiohttp's bare "404: Not Found"; matched routes (the pages,
    /healthz, /metrics, Slack's, the alerts webhook) answer for themselves."""
    try:
        return await handler(request)
    except (web.HTTPNotFound, web.HTTPMethodNotAllowed) as e:
        if request.match_info.http_exception is None:
            raise  # a matched route's own answer
        if isinstance(e, web.HTTPMethodNotAllowed):
            raise web.HTTPMethodNotAllowed(
                request.method, e.allowed_methods, content_type="text/html",
                text=html(request, "error.html", status=405, title="Not here", message=(
                    f"{request.method[:10]} is not how this address is used: open it in a "
                    "browser."))) from None
        raise error(request, 404, "No such page",
                    f"hostsnap has no page at {request.path[:200]}. {PAGES_HELP}") from None


async def _prepare(request: web.Request, response: web.StreamResponse) -> None:
    prefix = request.app[PAGES].settings.prefix
    static = request.path.startswith(("/static/", f"{prefix}/static/"))
    if not (static or request.get(IS_PAGE)):
        return
    for k, v in HEADERS.items():
        if static and k == "Cache-Control":
            continue  # the CSS and JS may be cached (they hold no data)
        response.headers.setdefault(k, v)
    if static:
        return
    for k, v in HEADERS.items():
        response.headers.setdefault(k, v)
    who = request.get(SET_SESSION)
    if who is not None:
        # a header, not response.set_cookie(): cookies are rendered into the
        # headers before this hook runs
        state = request.app[PAGES]
        token = state.signer.session(who, state.settings.session_ttl)
        response.headers.add("Set-Cookie", session_cookie(token, state.settings))
        holder = state.signer.holder(who, state.settings.session_ttl)
        response.headers.add("Set-Cookie", holder_cookie(holder, state.settings))


def holder_cookie(token: str, settings: WebSettings) -> str:
    """SameSite=Lax: a click on a link in Slack (a cross-site navigation) sends
    it, where it does not send the Strict session cookie; so someone signed in
    here who clicks another person's forwarded link is refused (guard._token)
    instead of being silently signed in as that person."""
    secure = "; Secure" if settings.secure else ""
    return (f"{HOLDER_COOKIE}={token}; Max-Age={int(settings.session_ttl)}; "
            f"Path={settings.prefix or '/'}; HttpOnly; SameSite=Lax{secure}")


def session_cookie(token: str, settings: WebSettings) -> str:
    """Only this server's pages send it back, never a cross-site request
    (SameSite=Strict), never a script (HttpOnly), only over https when the
    pages are served over https (Secure)."""
    secure = "; Secure" if settings.secure else ""
    return (f"{SESSION_COOKIE}={token}; Max-Age={int(settings.session_ttl)}; "
            f"Path={settings.prefix or '/'}; "
            f"HttpOnly; SameSite=Strict{secure}")
