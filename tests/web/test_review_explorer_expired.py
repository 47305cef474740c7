"""Review (brief WR), in Chromium: a stack group opened after the browser's
session ended says what the server said (sign in again, how), not a bare
"401 Unauthorized"."""

from __future__ import annotations

from tests.web.browser.conftest import Tab, chromium, site, tab

__all__ = ["chromium", "site", "tab"]  # the browser fixtures, used here


async def test_a_group_opened_after_the_session_ended_says_what_to_do(tab: Tab) -> None:
    sid = tab.site.ids["newer"]
    await tab.page.goto(tab.site.link(sid))
    await tab.open(f"/s/{sid}/dump/0")
    await tab.context.clear_cookies()  # the session ends (expired, or the server restarted)
    tab.allow(401, f"/s/{sid}/dump/0/group/")
    group = tab.page.locator("details.group").first
    await group.locator("summary").click()
    lazy = group.locator(".lazy")
    await lazy.filter(has_text="Could not load").wait_for()
    text = await lazy.inner_text()
    assert text.startswith("Could not load: Open the page from Slack"), text
    assert text.endswith("(HTTP 401)"), text
