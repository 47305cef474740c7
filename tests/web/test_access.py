"""Who may open the pages: signed links, sessions, SSO, one-time tokens and
[[authz]], each refusal a clear page (and audited), every view audited."""

from __future__ import annotations

from bot.access.links import Identity
from bot.settings.slack import AuthzRule
from bot.store.service import Store
from tests.web.conftest import ALICE, BOB, CHANNEL, EVE, rules


def _tamper(link: str) -> str:
    """Flip one character of the token's payload (a user id, an expiry...)."""
    head, token = link.split("?t=")
    payload, mac = token.split(".")
    i = len(payload) // 2
    flipped = payload[:i] + ("A" if payload[i] != "A" else "B") + payload[i + 1:]
    return f"{head}?t={flipped}.{mac}"


async def _refusals(store: Store) -> list[dict]:
    return [e.detail | {"actor": e.actor} for e in
            await store.audit_events(action="refused", limit=50)]


async def test_a_tampered_link_is_refused(serve_pages, snapshot_id, store):
    pages = await serve_pages()
    browser = await pages.client()
    r = await browser.get(_tamper(pages.link(snapshot_id, ALICE)))
    body = await r.text()
    assert r.status == 401
    assert "This link is not valid" in body
    assert "web-03" not in body  # nothing of the snapshot leaks
    assert "set-cookie" not in {k.lower() for k in r.headers}
    assert any(d["kind"] == "link-tampered" for d in await _refusals(store))


async def test_a_link_signed_with_another_secret_is_refused(serve_pages, snapshot_id):
    from bot.access.links import Signer

    pages = await serve_pages()
    forged = Signer(b"some-other-secret-of-at-least-32-bytes!!").link(
        snapshot_id, ALICE, CHANNEL, 3600)
    r = await (await pages.client()).get(f"/s/{snapshot_id}?t={forged}")
    assert r.status == 401 and "not valid" in await r.text()


async def test_an_expired_link_is_refused(serve_pages, snapshot_id, store):
    pages = await serve_pages()
    r = await (await pages.client()).get(pages.link(snapshot_id, ALICE, ttl=-1))
    body = await r.text()
    assert r.status == 401
    assert "has expired" in body and "Open in browser" in body
    assert any(d["kind"] == "link-expired" for d in await _refusals(store))


async def test_a_link_is_for_its_snapshot_only(serve_pages, store, snapshot_id):
    from tests.web.conftest import stored_snapshot

    other = await stored_snapshot(store, host="web-04")
    pages = await serve_pages()
    token = pages.link(snapshot_id, ALICE).split("?t=")[1]
    r = await (await pages.client()).get(f"/s/{other}?t={token}")
    assert r.status == 401
    assert "another snapshot" in await r.text()


async def test_no_session_no_page(serve_pages, snapshot_id):
    pages = await serve_pages()
    browser = await pages.client()
    for path in (f"/s/{snapshot_id}", "/", f"/s/{snapshot_id}/raw/jvm/4242-dump1.txt"):
        r = await browser.get(path)
        assert r.status == 401, path
        assert "Sign-in needed" in await r.text()


async def test_a_forged_session_cookie_is_refused(serve_pages, snapshot_id):
    pages = await serve_pages()
    browser = await pages.client()
    mac = pages.signer.session(Identity(BOB, CHANNEL, "link"), 3600).split(".")[1]
    evil = pages.signer.session(Identity(ALICE, CHANNEL, "link"), 3600).split(".")[0]
    browser.session.cookie_jar.update_cookies({"hostsnap_session": f"{evil}.{mac}"})
    r = await browser.get(f"/s/{snapshot_id}")
    assert r.status == 401 and "Sign in again" in await r.text()


async def test_a_link_opened_with_another_users_session_is_refused(serve_pages, snapshot_id,
                                                                   store):
    pages = await serve_pages()
    bobs_browser = await pages.client()
    assert (await bobs_browser.get(pages.link(snapshot_id, BOB))).status == 200
    # Alice's link, forwarded to Bob: it does not make Bob Alice
    r = await bobs_browser.get(pages.link(snapshot_id, ALICE))
    body = await r.text()
    assert r.status == 403
    assert "someone else" in body and ALICE in body and BOB in body
    assert "set-cookie" not in {k.lower() for k in r.headers}
    assert any(d["kind"] == "link-other-user" and d["actor"] == f"slack:{BOB}"
               for d in await _refusals(store))
    # and Bob is still Bob: his download right is still missing
    dl = await bobs_browser.get(f"/s/{snapshot_id}/raw/jvm/4242-dump1.txt?download=1")
    assert dl.status == 403


async def test_a_user_without_rights_for_the_group_is_refused(serve_pages, snapshot_id, store):
    pages = await serve_pages()
    r = await (await pages.client()).get(pages.link(snapshot_id, EVE))
    body = await r.text()
    assert r.status == 403
    assert "You may not browse snapshots of group `payments`" in body
    assert "web-03" in body or "payments" in body
    assert "Findings" not in body
    refused = [d for d in await _refusals(store) if d["kind"] == "authz"]
    assert refused and refused[0]["actor"] == f"slack:{EVE}" and refused[0]["interface"] == "web"


async def test_the_channel_of_the_link_counts(serve_pages, snapshot_id):
    """Alice may browse payments from C1 only: a link asked from elsewhere is no key."""
    pages = await serve_pages()
    r = await (await pages.client()).get(pages.link(snapshot_id, ALICE, channel="CRANDOM"))
    assert r.status == 403


async def test_rights_revoked_after_the_link_was_issued(serve_pages, snapshot_id):
    before = await serve_pages()
    link = before.link(snapshot_id, ALICE)
    browser = await before.client()
    assert (await browser.get(link)).status == 200
    # the operator drops Alice's rule and restarts; the link and cookie are still signed
    after = await serve_pages(signer=before.signer, authz=[
        AuthzRule(groups=["payments"], channels=[CHANNEL], user_groups=[BOB])])
    fresh = await after.client()
    r = await fresh.get(link)
    assert r.status == 403 and "You may not browse" in await r.text()
    # and within one running server: the rule list changes, the next click is refused
    assert (await browser.get(f"/s/{snapshot_id}")).status == 200
    from bot.web.pages.state import PAGES

    before.server.app[PAGES].authz.rules = []
    r = await browser.get(f"/s/{snapshot_id}")
    assert r.status == 403


async def test_downloads_need_the_raw_right_and_are_redacted_and_audited(
        serve_pages, snapshot_id, store):
    pages = await serve_pages()
    bob = await pages.client()
    await bob.get(pages.link(snapshot_id, BOB))
    page = await (await bob.get(f"/s/{snapshot_id}")).text()
    assert "?download=1" not in page and "Downloads need the raw_files right" in page
    r = await bob.get(f"/s/{snapshot_id}/raw/jvm/4242-dump1.txt?download=1")
    assert r.status == 403 and "see raw files of" in await r.text()
    # the redacted view is a view: Bob may read it
    assert (await bob.get(f"/s/{snapshot_id}/raw/jvm/4242-dump1.txt")).status == 200

    alice = await pages.client()
    await alice.get(pages.link(snapshot_id, ALICE))
    r = await alice.get(f"/s/{snapshot_id}/raw/jvm/4242-dump1.txt?download=1")
    assert r.status == 200
    assert r.headers["Content-Disposition"] == \
        f'attachment; filename="{snapshot_id}-jvm_4242-dump1.txt"'
    assert b"Full thread dump" in await r.read()
    raws = await store.audit_events(snapshot_id=snapshot_id, action="view_raw")
    assert [e.actor for e in raws][:1] == [f"slack:{ALICE}"]
    assert raws[0].detail["interface"] == "web" and raws[0].detail["sink"] == "web"


async def test_every_page_view_is_audited_with_the_web_interface(serve_pages, snapshot_id,
                                                                store):
    pages = await serve_pages()
    browser = await pages.client()
    await browser.get(pages.link(snapshot_id, ALICE))
    await browser.get(f"/s/{snapshot_id}")
    views = await store.audit_events(snapshot_id=snapshot_id, action="view")
    assert len(views) == 2
    assert all(v.actor == f"slack:{ALICE}" and v.detail == {"interface": "web",
                                                            "channel": CHANNEL}
               for v in views)


async def test_the_session_cookie_is_strict_httponly_and_secure_over_https(
        serve_pages, snapshot_id):
    plain = await serve_pages()
    r = await (await plain.client()).get(plain.link(snapshot_id, ALICE))
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # http://127.0.0.1: a Secure cookie would never come back
    tls = await serve_pages(base_url="https://hostsnap.example.com")
    r = await (await tls.client()).get(tls.link(snapshot_id, ALICE))
    assert "; Secure" in r.headers["Set-Cookie"]


# -- SSO proxy ---------------------------------------------------------------------------
async def test_a_proxy_header_from_an_untrusted_address_is_refused(serve_pages, snapshot_id,
                                                                   store):
    pages = await serve_pages(trusted_proxies=["10.9.9.9"], user_header="X-Forwarded-User")
    browser = await pages.client()
    r = await browser.get(f"/s/{snapshot_id}", headers={"X-Forwarded-User": ALICE})
    body = await r.text()
    assert r.status == 401
    assert "only accepted from the SSO proxy" in body and "Findings" not in body
    refused = [d for d in await _refusals(store) if d["kind"] == "untrusted-proxy"]
    assert refused and refused[0]["peer"] == "127.0.0.1"
    # a valid link does not launder the forged header
    r = await browser.get(pages.link(snapshot_id, ALICE), headers={"X-Forwarded-User": BOB})
    assert r.status == 401


async def test_the_proxy_header_from_the_proxy_names_the_user(serve_pages, snapshot_id, store):
    pages = await serve_pages(trusted_proxies=["127.0.0.0/8"], user_header="X-Auth-Request-Email",
                              user_map={"alice@example.com": ALICE}, sso_channel=CHANNEL)
    browser = await pages.client()
    r = await browser.get(f"/s/{snapshot_id}", headers={"X-Auth-Request-Email": "alice@example.com"})
    assert r.status == 200 and "web-03" in await r.text()
    views = await store.audit_events(snapshot_id=snapshot_id, action="view")
    assert views[0].actor == f"slack:{ALICE}"
    # someone the map does not know: refused, saying what to do
    r = await browser.get(f"/s/{snapshot_id}", headers={"X-Auth-Request-Email": "mallory@x.org"})
    assert r.status == 403 and "[web].user_map" in await r.text()
    # a mapped user without rights: refused by [[authz]] as in Slack
    eve = await serve_pages(trusted_proxies=["127.0.0.1"], user_header="X-Forwarded-User",
                            sso_channel=CHANNEL)
    r = await (await eve.client()).get(f"/s/{snapshot_id}", headers={"X-Forwarded-User": EVE})
    assert r.status == 403


async def test_sso_users_are_seen_from_the_sso_channel(serve_pages, snapshot_id):
    """[[authz]] rules name channels: SSO users come from `sso_channel` ("web")."""
    pages = await serve_pages(trusted_proxies=["127.0.0.1"], user_header="X-Forwarded-User",
                              authz=[*rules(), AuthzRule(groups=["payments"], channels=["web"],
                                                         user_groups=[EVE])])
    r = await (await pages.client()).get(f"/s/{snapshot_id}", headers={"X-Forwarded-User": EVE})
    assert r.status == 200
    r = await (await pages.client()).get(f"/s/{snapshot_id}", headers={"X-Forwarded-User": ALICE})
    assert r.status == 403  # Alice's rule is for channel C1


# -- hostsnap web's one-time token -------------------------------------------------------
async def test_a_one_time_token_opens_one_session_once(serve_pages, snapshot_id, store):
    pages = await serve_pages(base_url=None, secret_env=None, onetime=True)
    token = pages.onetime.issue(Identity("operator", "", "local"))
    first = await pages.client()
    r = await first.get(f"/?t={token}")
    assert r.status == 200 and snapshot_id in await r.text()
    # the session it set opens the pages
    assert (await first.get(f"/s/{snapshot_id}")).status == 200
    # the same URL from another browser: refused
    replay = await pages.client()
    r = await replay.get(f"/?t={token}")
    assert r.status == 401 and "already used" in await r.text()
    assert (await replay.get(f"/s/{snapshot_id}")).status == 401
    views = await store.audit_events(snapshot_id=snapshot_id, action="view")
    assert views[0].actor == "cli:operator" and views[0].detail == {"interface": "web"}
    assert any(d["kind"] == "token-used" for d in await _refusals(store))


async def test_a_link_opened_behind_sso_as_someone_else_is_refused(serve_pages, snapshot_id):
    pages = await serve_pages(trusted_proxies=["127.0.0.1"], user_header="X-Forwarded-User",
                              sso_channel=CHANNEL)
    browser = await pages.client()
    r = await browser.get(pages.link(snapshot_id, ALICE), headers={"X-Forwarded-User": BOB})
    assert r.status == 403 and "someone else" in await r.text()
    r = await browser.get(pages.link(snapshot_id, BOB), headers={"X-Forwarded-User": BOB})
    assert r.status == 200


async def test_anonymous_refusals_are_audited_up_to_a_budget(serve_pages, snapshot_id, store):
    """A scan of URLs without a session must not fill the audit table."""
    from bot.web.pages.state import ANONYMOUS_AUDITS

    pages = await serve_pages()
    browser = await pages.client()
    for _ in range(ANONYMOUS_AUDITS + 10):
        assert (await browser.get(f"/s/{snapshot_id}")).status == 401
    rows = [d for d in await _refusals(store) if d["kind"] == "no-session"]
    assert len(rows) == ANONYMOUS_AUDITS
    # a refusal of someone signed in is always audited
    for _ in range(3):
        assert (await browser.get(pages.link(snapshot_id, EVE))).status == 403
    assert len([d for d in await _refusals(store) if d["kind"] == "authz"]) == 3
