"""The snapshot page in Chromium: opened from a signed link, refused without
one, and a hostile thread name shown as text (no script runs)."""

from __future__ import annotations

from tests.web.browser.conftest import HOSTILE_NAME, STRANGER, Tab


async def test_a_signed_link_opens_the_snapshot_page(tab: Tab) -> None:
    sid = tab.site.ids["newer"]
    r = await tab.sign_in(sid)
    assert r is not None and r.status == 200
    page = tab.page
    assert "web-03" in await page.title()
    body = await page.inner_text("main")
    assert sid in body and "web-03" in body
    # the evidence first: the analysis's leak, as Slack says it
    assert "thread pools alive" in body
    # signed in: the session cookie lets the next page open without a link
    cookies = {c["name"]: c for c in await tab.context.cookies()}
    (session,) = [c for c in cookies.values() if c["name"].endswith("session")]
    assert session["httpOnly"] and session["sameSite"] == "Strict"
    await tab.open("/")
    listing = await page.inner_text("main")
    assert sid in listing and tab.site.ids["go"] in listing
    assert tab.site.ids["vault"] not in listing  # group vault: not this viewer's
    tab.assert_clean()


async def test_without_a_link_the_page_asks_to_sign_in(tab: Tab) -> None:
    tab.allow(401, "/s/")
    r = await tab.open(f"/s/{tab.site.ids['newer']}")
    assert r is not None and r.status == 401
    text = await tab.page.inner_text("body")
    assert "Open in browser" in text and "web-03" not in text
    tab.assert_clean()


async def test_a_group_the_viewer_may_not_see_is_refused(tab: Tab) -> None:
    tab.allow(403, "/s/")
    r = await tab.sign_in(tab.site.ids["vault"])
    assert r is not None and r.status == 403
    text = await tab.page.inner_text("body")
    assert "Not allowed" in text and "lock-convoy" not in text
    tab.assert_clean()


async def test_a_stranger_with_a_link_sees_nothing(tab: Tab) -> None:
    tab.allow(403, "/s/")
    r = await tab.sign_in(tab.site.ids["newer"], user=STRANGER)
    assert r is not None and r.status == 403
    assert "thread pools alive" not in await tab.page.inner_text("body")
    tab.assert_clean()


async def test_a_hostile_thread_name_is_shown_as_text(tab: Tab) -> None:
    sid = tab.site.ids["newer"]
    await tab.sign_in(sid)
    await tab.open(f"/s/{sid}/raw/jvm/4242-dump2.txt")
    page = tab.page
    # the literal text is on the page ...
    assert HOSTILE_NAME in await page.inner_text("body")
    # ... and nothing of it became markup: no injected image, no dialog
    assert await page.locator("img[src='x']").count() == 0
    assert not tab.dialogs
    tab.assert_clean()
