"""Who is looking, and may they: every page handler calls `viewer()` before
it reads anything.

Identity, strongest first: the SSO proxy's header (believed only from the
addresses in [web].trusted_proxies; the same header from anywhere else is
refused and audited), a signed link's token (`?t=`, bound to one snapshot and
one Slack user, valid `link_ttl`) or `hostsnap web`'s one-time token, then
the signed session cookie a link, a token or SSO set. Rights: the user's
[[authz]] rules for the host's group, checked at every request (a right
revoked after the link was handed out is gone at the next click). The local
operator of `hostsnap web` has the rights the CLI has: all of them."""

from __future__ import annotations

import ipaddress
import logging

from aiohttp import web

from bot.access.authz import Need
from bot.access.links import BadToken, Identity
from bot.access.viewer import Viewer
from bot.settings.web import SLACK_USER
from bot.web.pages.render import error
from bot.web.pages.state import HOLDER_COOKIE, SESSION_COOKIE, SET_SESSION, WHO, Pages, pages

log = logging.getLogger(__name__)

ANONYMOUS = "web:anonymous"
SIGN_IN = ("Open the page from Slack (the Open in browser button gives you a link), "
           "or run `hostsnap web` on the machine hostsnap runs on.")


async def viewer(request: web.Request, host: str | None = None, need: Need = "view", *,
                 group: str | None = None) -> Viewer:
    """The signed-in, authorised viewer (interface "web"), or an HTTP error
    with a small page (401 sign in, 403 not allowed for this host's group).
    `group`: the host's group as stored with the snapshot; without it the
    inventory's group of `host` is used."""
    p = pages(request)
    who = await identify(request)
    if host is not None or group is not None:
        if group is None:
            entry = p.core.inventory.hosts.get(host or "")
            group = entry.group if entry is not None else ""
        if who.via != "local":  # the local operator: as the CLI, every right
            d = await p.authz.decide(need, user=who.user, channel=who.channel, group=group)
            if not d.allowed:
                await p.core.journal.refused(who.actor, host or group, reason=d.reason,
                                             kind="authz", interface="web", need=need,
                                             group=group, path=request.path[:200])
                raise error(request, 403, "Not allowed", d.reason, who_text=_who_text(who))
    return Viewer(who.actor, "web", who.channel or None)


async def may(request: web.Request, need: Need, group: str) -> bool:
    """Whether the signed-in viewer has `need` for `group` (to offer a link or
    not); nothing is refused or audited: the linked page checks again."""
    who = await identify(request)
    if who.via == "local":
        return True
    d = await pages(request).authz.decide(need, user=who.user, channel=who.channel, group=group)
    return d.allowed


async def identify(request: web.Request) -> Identity:
    """Who the browser is (memoised on the request); 401 when nobody."""
    known = request.get(WHO)
    if isinstance(known, Identity):
        return known
    p = pages(request)
    who = await _sso(request, p)
    token = request.query.get("t")
    if token is not None:
        who = await _token(request, p, token, who)
    if who is None:
        who = await _cookie(request, p)
    if who is None:  # _cookie raised already; for the type checker
        raise error(request, 401, "Sign-in needed", SIGN_IN)
    request[WHO] = who
    return who


async def _refuse(request: web.Request, p: Pages, status: int, title: str, message: str,
                  *, kind: str, actor: str = ANONYMOUS) -> web.HTTPException:
    # anyone can send anonymous requests: their refusals are audited up to a
    # budget per kind and minute, so a scan cannot fill the audit table
    if actor != ANONYMOUS or p.anonymous.take(kind):
        await p.core.journal.refused(actor, request.path[:200], reason=message, kind=kind,
                                     interface="web", peer=request.remote or "")
    else:
        log.info("web refusal not audited (over budget): %s %s from %s", kind,
                 request.path[:200], request.remote)
    return error(request, status, title, message)


def _peer_trusted(p: Pages, peer: str | None) -> bool:
    if not peer:
        return False
    try:
        addr = ipaddress.ip_address(peer)
    except ValueError:
        return False
    return any(addr in net for net in p.settings.networks())


async def _sso(request: web.Request, p: Pages) -> Identity | None:
    name = p.settings.user_header
    if not name or name not in request.headers:
        return None
    if not _peer_trusted(p, request.remote):
        # someone sends the proxy's header without being the proxy
        raise await _refuse(request, p, 401, "Sign-in header not accepted",
                            f"The {name} header is only accepted from the SSO proxy; this "
                            f"request came from elsewhere. {SIGN_IN}", kind="untrusted-proxy")
    value = request.headers[name].strip()
    user = p.settings.user_map.get(value) or (value if SLACK_USER.match(value) else None)
    if user is None:
        raise await _refuse(request, p, 403, "Unknown user",
                            f"You are signed in as {value[:100]}, who has no Slack identity "
                            "here: ask whoever runs hostsnap to add you to [web].user_map.",
                            kind="sso-unmapped", actor=f"sso:{value[:100]}")
    return Identity(user, p.settings.sso_channel, "sso")  # the header comes every time


async def _token(request: web.Request, p: Pages, token: str, who: Identity | None
                 ) -> Identity | None:
    if p.onetime is not None:  # `hostsnap web`: a one-time token
        try:
            local = p.onetime.redeem(token)
        except BadToken as e:
            current = await _cookie(request, p, required=False)
            if current is not None:  # the same browser reloads the first URL
                return current
            raise await _refuse(request, p, 401, "Link not valid", str(e),
                                kind=f"token-{e.reason}") from None
        request[SET_SESSION] = local
        return local
    try:
        linked = p.signer.open_link(token, request.match_info.get("sid", ""))
    except BadToken as e:
        raise await _refuse(request, p, 401, "Link not valid", str(e),
                            kind=f"link-{e.reason}") from None
    holder = who or await _cookie(request, p, required=False) or _holder(request, p)
    if holder is not None and holder.user != linked.user:
        # a link forwarded to someone else: it stays its owner's
        raise await _refuse(request, p, 403, "This link is someone else's",
                            f"This link was handed out to Slack user {linked.user}, and you "
                            f"are {holder.user}. Use Open in browser in Slack for your own "
                            "link.", kind="link-other-user", actor=holder.actor)
    if who is not None:  # SSO already says who; the link adds nothing
        return who
    request[SET_SESSION] = linked
    return linked


async def _cookie(request: web.Request, p: Pages, *, required: bool = True
                  ) -> Identity | None:
    raw = request.cookies.get(SESSION_COOKIE)
    if raw:
        try:
            return p.signer.open_session(raw)
        except BadToken as e:
            if not required:
                return None
            raise await _refuse(request, p, 401, "Sign in again",
                                f"{e} {SIGN_IN}", kind=f"session-{e.reason}") from None
    if not required:
        return None
    raise await _refuse(request, p, 401, "Sign-in needed", SIGN_IN, kind="no-session")


def _holder(request: web.Request, p: Pages) -> Identity | None:
    """Who this browser was signed in as, from the Lax cookie a click from
    Slack brings (the Strict session cookie stays behind): only to refuse."""
    raw = request.cookies.get(HOLDER_COOKIE)
    if not raw:
        return None
    try:
        return Identity(p.signer.open_holder(raw), "", "link")
    except BadToken:
        return None


def _who_text(who: Identity) -> str:
    if who.via == "local":
        return f"local operator {who.user}"
    return f"Slack user {who.user}" + (f" (from channel {who.channel})" if who.channel else "")
