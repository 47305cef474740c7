"""Review (brief WR): a link forwarded to someone signed in here is refused
even when clicked in Slack. A click from Slack is a cross-site navigation: the
browser leaves the session cookie (SameSite=Strict) behind and sends only
SameSite=Lax cookies, so these tests send what Chromium sends then."""

from __future__ import annotations

import html
import re

from tests.web.conftest import ALICE, BOB


def _cookies(r) -> dict[str, str]:
    """name -> the whole Set-Cookie line, of every cookie the answer sets."""
    return {line.split("=", 1)[0]: line for line in r.headers.getall("Set-Cookie", [])}


def _value(line: str) -> str:
    return line.split(";", 1)[0].split("=", 1)[1]


async def test_someone_elses_link_clicked_in_slack_is_refused(serve_pages, snapshot_id, store):
    pages = await serve_pages()
    alice = await pages.client()
    r = await alice.get(pages.link(snapshot_id, ALICE))
    assert r.status == 200
    set_ = _cookies(r)
    holder = set_["hostsnap_holder"]
    assert "SameSite=Lax" in holder and "HttpOnly" in holder
    assert "SameSite=Strict" in set_["hostsnap_session"]  # the session stays Strict

    # Bob forwards his link; Alice clicks it in Slack: only the Lax cookie comes
    alice.session.cookie_jar.clear()
    r = await alice.get(pages.link(snapshot_id, BOB),
                        headers={"Cookie": f"hostsnap_holder={_value(holder)}"})
    body = await r.text()
    assert r.status == 403, body[:300]
    msg = html.unescape(re.search(r'<p class="message">(.*?)</p>', body, re.S).group(1))
    assert f"handed out to Slack user {BOB}, and you are {ALICE}" in msg
    assert "hostsnap_session" not in _cookies(r)  # not signed in as Bob
    refused = [e.detail for e in await store.audit_events(action="refused", limit=20)]
    assert any(d.get("kind") == "link-other-user" for d in refused)

    # her own link, clicked the same way, opens
    r = await alice.get(pages.link(snapshot_id, ALICE),
                        headers={"Cookie": f"hostsnap_holder={_value(holder)}"})
    assert r.status == 200


async def test_the_holder_cookie_opens_nothing(serve_pages, snapshot_id):
    pages = await serve_pages()
    alice = await pages.client()
    holder = _value(_cookies(await alice.get(pages.link(snapshot_id, ALICE)))["hostsnap_holder"])
    alice.session.cookie_jar.clear()
    for name in ("hostsnap_holder", "hostsnap_session"):  # as itself, or passed off as a session
        r = await alice.get(f"/s/{snapshot_id}", headers={"Cookie": f"{name}={holder}"})
        assert r.status == 401, name


async def test_a_bad_holder_cookie_does_not_block_a_link(serve_pages, snapshot_id):
    pages = await serve_pages()
    bob = await pages.client()
    r = await bob.get(pages.link(snapshot_id, BOB), headers={"Cookie": "hostsnap_holder=x.\u00e9"})
    assert r.status == 200
