"""What every page handler reaches through the aiohttp app: the core, the
[web] settings, the signer, the authorizer and the templates."""

from __future__ import annotations

import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

import jinja2
from aiohttp import web

from bot.access.authz import Authorizer
from bot.access.links import Identity, OneTimeTokens, Signer
from bot.settings.web import WebSettings
from bot.store.faults import request_deadline, within

if TYPE_CHECKING:
    from bot.app import App

T = TypeVar("T")
#: anonymous refusals audited per kind (no session, tampered link...) and minute
ANONYMOUS_AUDITS = 30


class Budget:
    """At most `per_minute` events per kind in any minute (a fixed window)."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._windows: dict[str, tuple[float, int]] = {}

    def take(self, kind: str) -> bool:
        now = time.monotonic()
        start, n = self._windows.get(kind, (now, 0))
        if now - start >= 60.0:
            start, n = now, 0
        self._windows[kind] = (start, n + 1)
        return n < self.per_minute


@dataclass
class Pages:
    core: App
    settings: WebSettings
    signer: Signer
    authz: Authorizer
    env: jinja2.Environment
    #: `hostsnap web`: the one-time tokens it printed (None under `serve`)
    onetime: OneTimeTokens | None = None
    #: refusals of requests nobody signed audited per kind and minute
    anonymous: Budget = field(default_factory=lambda: Budget(ANONYMOUS_AUDITS))


PAGES: web.AppKey[Pages] = web.AppKey("pages", Pages)
#: request keys: the identity found for this request, a session cookie to set,
#: and "this is a page" (security headers)
WHO: web.RequestKey[Identity] = web.RequestKey("hostsnap_who", Identity)
SET_SESSION: web.RequestKey[Identity] = web.RequestKey("hostsnap_set_session", Identity)
IS_PAGE: web.RequestKey[bool] = web.RequestKey("hostsnap_page", bool)
SESSION_COOKIE = "hostsnap_session"
#: who the browser is signed in as (SameSite=Lax, opens nothing): bot/access/links.py
HOLDER_COOKIE = "hostsnap_holder"


def pages(request: web.Request) -> Pages:
    return request.app[PAGES]


async def db(request: web.Request, work: Awaitable[T]) -> T:
    """A page's database work, bounded as a Slack command's is (database_timeout
    plus a grace): a frozen connection's cleanup is left to finish in the
    background, the page says 503 now (bot/web/pages/__init__.py)."""
    try:
        return await within(request_deadline(pages(request).core.settings.database_timeout),
                            work)
    except TimeoutError as e:
        raise DatabaseStalled("no answer within database_timeout") from e


class DatabaseStalled(Exception):
    """db() gave up waiting (a 503 page)."""
