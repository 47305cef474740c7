"""The signed tokens themselves (bot/access/links.py), without a server."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bot.access.links import BadToken, Identity, Signer
from tests.web.conftest import ALICE, CHANNEL

_SIGNER = Signer(b"k" * 40, clock=lambda: 1_000_000.0)
_LINK = _SIGNER.link("abcd1234", ALICE, CHANNEL, 3600)


@given(st.integers(min_value=0, max_value=len(_LINK) - 1),
       st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."))
def test_any_changed_character_of_a_link_is_refused(i, c):
    changed = _LINK[:i] + c + _LINK[i + 1:]
    if changed == _LINK:
        return
    try:
        who = _SIGNER.open_link(changed, "abcd1234")
    except BadToken as e:
        assert e.reason in ("tampered", "wrong-snapshot")
    else:  # base64 padding bits: the same bytes, so the same link
        assert who == _SIGNER.open_link(_LINK, "abcd1234")


def test_a_session_is_no_link_and_a_link_no_session():
    session = _SIGNER.session(Identity(ALICE, CHANNEL, "link"), 3600)
    for token, kind in ((session, "link"), (_LINK, "session")):
        try:
            _SIGNER.verify(token, kind)
        except BadToken as e:
            assert e.reason == "tampered"
        else:
            raise AssertionError(f"a {kind} token accepted the other kind")
    later = Signer(b"k" * 40, clock=lambda: 1_000_000.0 + 3601)
    try:
        later.open_link(_LINK, "abcd1234")
    except BadToken as e:
        assert e.reason == "expired"
    else:
        raise AssertionError("an expired link was accepted")
