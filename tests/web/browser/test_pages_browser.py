"""Compare, host timeline, fleet and alerts pages in Chromium, reached by the
links a person clicks (from the snapshot page, from an alert)."""

from __future__ import annotations

import re

from tests.web.browser.conftest import Tab


async def click_to(tab: Tab, selector: str, text: str | None = None) -> None:
    link = tab.page.locator(selector, has_text=text) if text else tab.page.locator(selector)
    async with tab.page.expect_navigation():
        await link.first.click()


async def test_compare_with_the_previous_snapshot(tab: Tab) -> None:
    older, newer = tab.site.ids["older"], tab.site.ids["newer"]
    await tab.sign_in(newer)
    await click_to(tab, "a", "Compare with previous")
    page = tab.page
    assert page.url.endswith(f"/compare/{older}/{newer}")
    head = await page.locator("h1").inner_text()
    assert older in head and newer in head
    # growth drawn, not only listed: the processes' threads before -> after
    assert await page.locator("#processes svg").count() == 1
    assert await page.locator("section.dumpdiff").count() >= 1
    # each side links back to its snapshot
    await click_to(tab, "#sides a", older)
    assert page.url.endswith(f"/s/{older}")
    assert "web-03" in await page.locator("h1").inner_text()
    tab.assert_clean()


async def test_the_host_timeline_and_its_points(tab: Tab) -> None:
    newer = tab.site.ids["newer"]
    await tab.sign_in(newer)
    await click_to(tab, "a", "Host timeline")
    page = tab.page
    assert page.url.endswith("/h/web-03")
    charts = page.locator("#charts svg")
    assert await charts.count() == 3  # threads, TIME_WAIT, memory
    # every snapshot of the host is a point of each chart and a row of the table
    assert await page.locator("#snapshots tbody tr").count() == 5
    points = charts.first.locator("a")
    assert await points.count() == 5
    # the last point (newest, right) opens that snapshot
    async with page.expect_navigation():
        await points.last.click()
    assert page.url.endswith(f"/s/{newer}")
    tab.assert_clean()


async def test_the_fleet_page_marks_the_host_that_stands_out(tab: Tab) -> None:
    fleet = tab.site.fleet
    await tab.sign_in(fleet[0])
    await tab.open("/fleet/" + ",".join(fleet))
    page = tab.page
    assert "5 hosts" in await page.locator("h1").inner_text()
    assert "web-14" in await page.locator("#standouts").inner_text()
    assert await page.locator("#charts svg").count() >= 1
    rows = page.locator("#hosts tbody tr")
    assert await rows.count() == 5
    await click_to(tab, "#hosts a", "web-12")
    assert re.search(r"/(s|h)/", page.url)
    tab.assert_clean()


async def test_the_alerts_page_and_what_became_of_each(tab: Tab) -> None:
    await tab.sign_in()
    await tab.open("/alerts")
    page = tab.page
    table = page.locator("#alerts tbody tr")
    text = await page.locator("#alerts").inner_text()
    # web-03's and go-01's alerts; not db-07's (group vault), nor an unknown host's
    assert await table.count() == 3
    assert "ThreadsHigh" in text and "GoroutinesHigh" in text
    assert "DiskFull" not in text and "web-99" not in text
    assert "2 alerts of hosts you may not see" in await page.locator(".meta").inner_text()
    # filter by outcome
    await page.locator("select[name=outcome]").select_option("covered")
    async with page.expect_navigation():
        await page.locator("form.search button[type=submit]").click()
    assert await table.count() == 1
    assert "a capture of web-03 ran" in await table.first.inner_text()
    # an alert's snapshot link opens its snapshot
    await tab.open("/alerts")
    await click_to(tab, "#alerts a", tab.site.ids["go"])
    assert page.url.endswith(f"/s/{tab.site.ids['go']}")
    assert "go-01" in await page.locator("h1").inner_text()
    tab.assert_clean()
