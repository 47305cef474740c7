"""Who may send alerts: a bearer token, HTTP basic auth, or Grafana's HMAC
signature, per receiver. Every comparison is constant-time (hmac.compare_digest)
so response timing tells an attacker nothing about how much of a guess was right.

Missing credentials answer 401, wrong ones 403. Header credentials are checked
before the body is read (an unauthenticated sender cannot make us read 1 MiB);
a signature needs the body, so it is checked right after.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass

from bot.settings.alerts import Receiver

#: a Unix time in seconds: digits only (no sign, exponent, nan), at most 12
_UNIX_TIME = re.compile(r"[0-9]{1,12}")


class Rejected(Exception):
    """An HTTP error for the sender: status, one-line message, metric reason."""

    def __init__(self, status: int, message: str, reason: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.reason = reason
        self.headers = headers or {}


@dataclass(frozen=True)
class Authenticator:
    receiver: Receiver
    #: the token, password or HMAC secret, resolved once at start-up
    secret: bytes

    @classmethod
    def of(cls, receiver: Receiver) -> Authenticator:
        return cls(receiver, receiver.credential())

    @property
    def verifies_body(self) -> bool:
        """The body must be read before the sender is known (HMAC signs it)."""
        return self.receiver.auth == "hmac"

    def check_headers(self, headers: Mapping[str, str], now: float | None = None) -> None:
        """Everything that needs no body: bearer and basic credentials; for
        HMAC, that the signature is there and the timestamp inside the window."""
        r = self.receiver
        if r.auth == "hmac":
            if not headers.get(r.signature_header, "").strip():
                raise _missing(f"signature header {r.signature_header}", None)
            if r.timestamp_header:
                self._fresh(headers.get(r.timestamp_header, "").strip(), now)
            return
        scheme, _, value = headers.get("Authorization", "").strip().partition(" ")
        value = value.strip()
        if r.auth == "bearer":
            if scheme.lower() != "bearer" or not value:
                raise _missing("Authorization: Bearer <token>", "Bearer")
            if not hmac.compare_digest(value.encode(), self.secret):
                raise _wrong("wrong bearer token")
            return
        if scheme.lower() != "basic" or not value:
            raise _missing("HTTP basic auth", 'Basic realm="hostsnap alerts"')
        try:
            user, sep, password = base64.b64decode(value, validate=True).partition(b":")
        except (binascii.Error, ValueError):
            raise _wrong("malformed basic auth credentials") from None
        expected_user = (r.username or "").encode()
        # both compared, always: which one was wrong must not show in the timing
        ok_user = hmac.compare_digest(user, expected_user)
        ok_password = hmac.compare_digest(password, self.secret)
        if not (sep and ok_user and ok_password):
            raise _wrong("wrong username or password")

    def _fresh(self, ts: str, now: float | None) -> None:
        r = self.receiver
        if not ts:
            raise _missing(f"timestamp header {r.timestamp_header}", None)
        # whole seconds, as Grafana sends: float() would take "nan" (no
        # comparison with NaN is true, so it passed the window), "inf", "1e9"
        if not _UNIX_TIME.fullmatch(ts):
            raise _wrong(f"{r.timestamp_header} is not a Unix time in whole seconds")
        skew = abs((time.time() if now is None else now) - int(ts))
        if skew > r.replay_window:
            raise _wrong(f"signature timestamp is {skew:.0f} s away from this server's "
                         f"clock (replay window {r.replay_window:.0f} s)")

    def check_body(self, headers: Mapping[str, str], body: bytes) -> None:
        """Grafana's HMAC: hex HMAC-SHA256 of the body, or of "timestamp:body"
        when a timestamp header is configured. A replay inside the window is a
        repeated delivery, which de-duplication absorbs."""
        r = self.receiver
        if r.auth != "hmac":
            return
        signed = body
        if r.timestamp_header:
            signed = headers.get(r.timestamp_header, "").strip().encode() + b":" + body
        expected = hmac.new(self.secret, signed, hashlib.sha256).hexdigest()
        sent = headers.get(r.signature_header, "").strip().lower()
        if not hmac.compare_digest(sent.encode(), expected.encode()):
            raise _wrong("signature does not match the body")


def _missing(what: str, challenge: str | None) -> Rejected:
    headers = {"WWW-Authenticate": challenge} if challenge else None
    return Rejected(401, f"authentication required: {what}", "unauthenticated", headers)


def _wrong(message: str) -> Rejected:
    return Rejected(403, message, "forbidden")
