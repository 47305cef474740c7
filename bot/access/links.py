"""Signed links, session cookies and one-time tokens for the pages (core:
the Slack bot hands out the links, the pages open them).

A token is `payload.signature`, both base64url: the payload is JSON with its
kind (link, session), the Slack user, the channel the link was asked from and
an expiry; the signature is HMAC-SHA256 over the payload with the server
secret. Nothing is stored server-side for links and sessions: a token is
valid because the server signed it, and only until it expires. One-time
tokens (`hostsnap web`) are random and remembered by the process that
printed them, so a second use is refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

Kind = Literal["link", "session", "holder"]
#: how the person behind a session signed in (what a page says and the audit shows)
Via = Literal["link", "sso", "local"]


class BadToken(Exception):
    """A token that is tampered with, expired, of another kind or used up; the
    message is shown to the person who opened it."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message.strip())
        self.reason = reason  # tampered, expired, used, wrong-snapshot (for the audit)


@dataclass(frozen=True)
class Identity:
    """Who the browser is: a Slack user (from a link or SSO) or the local operator."""

    user: str  # Slack user id, or the OS login for `local`
    channel: str  # what [[authz]] sees as the channel ("" for local)
    via: Via

    @property
    def actor(self) -> str:
        return f"cli:{self.user}" if self.via == "local" else f"slack:{self.user}"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer:
    def __init__(self, secret: bytes, *, clock: Any = time.time) -> None:
        self._key = hashlib.sha256(b"hostsnap-web\0" + secret).digest()
        self.clock = clock

    def _mac(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode(), hashlib.sha256).digest())

    def sign(self, kind: Kind, ttl: float, **fields: Any) -> str:
        body = {"k": kind, "e": int(self.clock() + ttl), **fields}
        payload = _b64(json.dumps(body, separators=(",", ":"), sort_keys=True).encode())
        return f"{payload}.{self._mac(payload)}"

    def verify(self, token: str, kind: Kind) -> dict[str, Any]:
        what = "link" if kind == "link" else "browser session"
        payload, _, mac = token.partition(".")
        # bytes, not str: compare_digest refuses str with non-ASCII characters
        # (a TypeError, a 500 for anyone who sends `?t=a.é`)
        if not payload or not mac or not hmac.compare_digest(
                mac.encode(errors="replace"), self._mac(payload).encode()):
            raise BadToken(
                "This link is not valid (it was changed or cut). Copy the whole link, or ask "
                "for a new one with Open in browser in Slack." if kind == "link" else
                "This browser session is not valid: it was changed, or signed with another "
                "secret (a restarted `hostsnap web`, a new [web] secret).", "tampered")
        try:
            body = json.loads(_unb64(payload))
        except ValueError:
            raise BadToken(f"This {what} is not valid.", "tampered") from None
        if not isinstance(body, dict) or body.get("k") != kind:
            raise BadToken(f"This {what} is not valid here.", "tampered")
        expiry = body.get("e")
        if not isinstance(expiry, int):
            raise BadToken(f"This {what} is not valid.", "tampered")
        now = self.clock()
        if expiry < now:
            # when, so the reader knows it is the clock and not their rights
            at = datetime.fromtimestamp(expiry, UTC).strftime("%Y-%m-%d %H:%M UTC")
            raise BadToken(f"This {what} has expired: {_ago(now - expiry)} ago, at {at}. " + (
                "Ask for a new link: click Open in browser on the snapshot's message in "
                "Slack." if kind == "link" else ""), "expired")
        return body

    # -- the two signed kinds ----------------------------------------------------------
    def link(self, snapshot_id: str, user: str, channel: str, ttl: float) -> str:
        return self.sign("link", ttl, s=snapshot_id, u=user, c=channel)

    def open_link(self, token: str, snapshot_id: str) -> Identity:
        body = self.verify(token, "link")
        if body.get("s") != snapshot_id:
            raise BadToken(f"This link is for another snapshot ({str(body.get('s'))[:40]}), "
                           "not this address's: open it as Slack gave it, or click Open in "
                           "browser on this snapshot's message.", "wrong-snapshot")
        return Identity(str(body["u"]), str(body["c"]), "link")

    def session(self, who: Identity, ttl: float) -> str:
        return self.sign("session", ttl, u=who.user, c=who.channel, v=who.via)

    def holder(self, who: Identity, ttl: float) -> str:
        """Who this browser is signed in as, to refuse someone else's link: sent
        on a click from Slack, where the session cookie (SameSite=Strict) is not.
        It opens nothing: a session it is not."""
        return self.sign("holder", ttl, u=who.user)

    def open_holder(self, token: str) -> str:
        return str(self.verify(token, "holder")["u"])

    def open_session(self, token: str) -> Identity:
        body = self.verify(token, "session")
        via = body.get("v")
        if via not in ("link", "sso", "local"):
            raise BadToken("This session is not valid.", "tampered")
        return Identity(str(body["u"]), str(body["c"]), via)


def _ago(seconds: float) -> str:
    """3 h, 2 d, 40 s: how long ago a token expired."""
    s = int(seconds)
    for unit, n in (("d", 86400), ("h", 3600), ("min", 60)):
        if s >= n:
            return f"{s // n} {unit}"
    return f"{s} s"


def link_url(base_url: str, signer: Signer, snapshot_id: str, user: str, channel: str,
             ttl: float) -> str:
    """The page of `snapshot_id` for `user`, asked from `channel`."""
    token = signer.link(snapshot_id, user, channel, ttl)
    return f"{base_url.rstrip('/')}/s/{snapshot_id}?t={token}"


class OneTimeTokens:
    """Tokens printed by `hostsnap web`: each opens one session, once."""

    def __init__(self, ttl: float = 3600.0, *, clock: Any = time.monotonic) -> None:
        self.ttl = ttl
        self.clock = clock
        self._open: dict[str, tuple[float, Identity]] = {}

    def issue(self, who: Identity) -> str:
        token = secrets.token_urlsafe(32)
        self._open[token] = (self.clock() + self.ttl, who)
        return token

    def redeem(self, token: str) -> Identity:
        entry = self._open.pop(token, None)  # popped: a second use finds nothing
        if entry is None:
            raise BadToken("This one-time link was already used (or never issued). Run "
                           "`hostsnap web` again for a new one.", "used")
        if entry[0] < self.clock():
            raise BadToken("This one-time link has expired. Run `hostsnap web` again.",
                           "expired")
        return entry[1]
