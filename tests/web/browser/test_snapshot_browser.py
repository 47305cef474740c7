"""The snapshot page in Chromium: opened from a signed link, refused without
one, and a hostile thread name shown as text (no script runs)."""

from __future__ import annotations

from pathlib import Path

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
    page = tab.page
    # the snapshot page: the thread-growth finding names the new "pool"
    assert "<script>alert('xss')</script>" in await page.inner_text("#findings")
    assert await page.locator("img[src='x']").count() == 0
    await tab.open(f"/s/{sid}/raw/jvm/4242-dump2.txt")
    # the literal text is on the page ...
    assert HOSTILE_NAME in await page.inner_text("body")
    # ... and nothing of it became markup: no injected image, no dialog
    assert await page.locator("img[src='x']").count() == 0
    assert not tab.dialogs
    tab.assert_clean()


async def test_the_watch_sees_what_goes_wrong_on_a_page(tab: Tab) -> None:
    """The guard every browser test relies on: a script error, a console
    error, a failed request and an unexpected 404 are each reported."""
    await tab.sign_in()
    page = tab.page
    await page.evaluate("setTimeout(() => { throw new Error('boom') }, 0)")
    await page.evaluate("console.error('something broke')")
    await page.evaluate("fetch('/no/such/page').catch(() => {})")
    # a request that fails on the way (as when the server drops the connection)
    await page.route("**/dropped", lambda route: route.abort())
    await page.evaluate("fetch('/dropped').catch(() => {})")
    # another origin: the page's Content-Security-Policy blocks it, and says so
    await page.evaluate("fetch('http://127.0.0.1:9/').catch(() => {})")
    await page.wait_for_timeout(300)
    seen = "\n".join(tab.problems)
    assert "page error: boom" in seen or "Error: boom" in seen, seen
    assert "console error: something broke" in seen, seen
    assert "HTTP 404 GET" in seen and "/no/such/page" in seen, seen
    assert "request failed: GET" in seen and "/dropped" in seen, seen
    assert "violates the following Content Security Policy" in seen, seen
    tab.problems.clear()  # seen on purpose
    tab.assert_clean()


async def test_a_raw_file_downloads_from_the_snapshot_page(tab: Tab) -> None:
    sid = tab.site.ids["older"]
    await tab.sign_in(sid)
    page = tab.page
    row = page.locator("#raw tr", has_text="jvm/4242-dump1.txt")
    tab.allow_download("?download=1")
    async with page.expect_download() as got:
        await row.get_by_role("link", name="download").click()
    d = await got.value
    assert d.suggested_filename == f"{sid}-jvm_4242-dump1.txt"
    data = Path(await d.path()).read_bytes()
    # the dump itself (redacted: nothing to redact in this one), whole
    assert b"Full thread dump OpenJDK" in data and data.count(b'\n"') >= 200
    tab.assert_clean()
