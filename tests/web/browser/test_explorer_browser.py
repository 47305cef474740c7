"""The thread-dump explorer in Chromium, followed from the snapshot page as a
person does: a stack group opens (its frames and threads load then), the
search finds a thread by name, frame or lock address, the state filter
narrows the groups, and a hostile thread name stays text."""

from __future__ import annotations

import re

from tests.web.browser.conftest import HOSTILE_NAME, Tab


async def open_dump(tab: Tab, role: str, name_part: str) -> str:
    """Sign in with `role`'s link, click the dump whose file name has
    `name_part` on its snapshot page; returns the explorer's path."""
    sid = tab.site.ids[role]
    await tab.sign_in(sid)
    page = tab.page
    async with page.expect_navigation():
        await page.locator(f"a[href^='/s/{sid}/dump/']", has_text=name_part).first.click()
    assert re.search(rf"/s/{sid}/dump/\d+$", page.url), page.url
    return page.url.removeprefix(tab.site.url)


async def test_a_stack_group_opens_and_loads_on_demand(tab: Tab) -> None:
    base = await open_dump(tab, "newer", "dump2")
    page = tab.page
    groups = page.locator("details.group")
    assert await groups.count() > 1
    first = groups.first
    # collapsed, and nothing of its frames or threads shipped with the page
    assert not await first.evaluate("d => d.open")
    assert await page.locator("details.group .group-body").count() == 0
    async with page.expect_response(lambda r: f"{base}/group/" in r.url) as got:
        await first.locator("summary").click()
    assert (await got.value).status == 200
    body = first.locator(".group-body")
    await body.wait_for()
    frames = await body.locator("pre.frames").inner_text()
    assert "at java." in frames or "at jdk." in frames
    rows = body.locator("table.rows tbody tr")
    assert await rows.count() >= 1
    # the count in the summary is the number of threads the fragment says it has
    summary_n = int((await first.locator("summary b.n").inner_text()).replace(",", ""))
    said = await body.locator("p.dim").first.inner_text()
    assert said.startswith(f"{summary_n:,} threads"), said
    # "more" loads the next page of threads into the same box
    more = body.locator("a.more")
    if await more.count():
        shown = await rows.count()
        async with page.expect_response(lambda r: "page=2" in r.url):
            await more.click()
        await page.wait_for_function(
            "([sel, n]) => document.querySelectorAll(sel).length !== n",
            arg=[f"details#{await first.get_attribute('id')} table.rows tbody tr", shown])
    tab.assert_clean()


async def test_search_by_thread_name_frame_and_lock_address(tab: Tab) -> None:
    await open_dump(tab, "newer", "dump2")
    page = tab.page
    box = page.locator("form.search input[name=q]")

    async def search(q: str) -> tuple[int, str]:
        await box.fill(q)
        async with page.expect_navigation():
            await page.locator("form.search button[type=submit]").click()
        head = await page.locator("#results > p").first.inner_text()
        n = int(head.split(" ", 1)[0].replace(",", ""))
        return n, await page.locator("#results").inner_text()

    n, text = await search("pool-433-thread-1")  # a thread name
    assert n == 1 and "pool-433-thread-1" in text
    n, text = await search("ThreadPoolExecutor.getTask")  # a frame
    assert n > 100, text[:300]
    # a lock address, as the dump prints it (read from the raw file's view)
    sid = tab.site.ids["newer"]
    raw = await page.evaluate("async (u) => (await fetch(u)).text()",
                              f"/s/{sid}/raw/jvm/4242-dump2.txt")
    addresses = re.findall(r"parking to wait for\s+&lt;(0x[0-9a-f]+)&gt;", raw)
    assert addresses, raw[:500]
    addr = addresses[0]
    n, text = await search(addr)
    assert 1 <= n <= raw.count(addr), text[:300]
    tab.assert_clean()


async def test_the_state_filter_narrows_the_groups(tab: Tab) -> None:
    await open_dump(tab, "newer", "dump2")
    page = tab.page
    states = page.locator("p.states a")
    assert await states.count() >= 2
    total = int((await states.first.inner_text()).split()[-1].replace(",", ""))
    # the smallest state: its link, then every listed group counts only that state
    counts = []
    for i in range(1, await states.count()):
        label = await states.nth(i).inner_text()
        name, _, n = label.rpartition(" ")
        counts.append((int(n.replace(",", "")), name, i))
    n, name, i = min(counts)
    assert n < total
    async with page.expect_navigation():
        await states.nth(i).click()
    assert "state=" in page.url
    on = page.locator("p.states a.on")
    assert (await on.inner_text()).startswith(name)
    assert f"in state {name}" in await page.locator("#groups h2").inner_text()
    shown = [int(x.replace(",", "")) for x in
             await page.locator("details.group summary b.n").all_inner_texts()]
    assert shown and sum(shown) == n  # every thread of that state, and no other
    tab.assert_clean()


async def test_a_goroutine_dump_explorer(tab: Tab) -> None:
    base = await open_dump(tab, "go", "goroutines/")
    page = tab.page
    assert "goroutines" in await page.locator(".meta").inner_text()
    first = page.locator("details.group").first
    async with page.expect_response(lambda r: f"{base}/group/" in r.url):
        await first.locator("summary").click()
    body = first.locator(".group-body")
    await body.wait_for()
    assert "main." in await body.locator("pre.frames").inner_text()
    assert await body.locator("table.rows tbody tr").count() >= 1
    # the icicle of all stacks is drawn
    assert await page.locator("#flame svg").count() == 1
    tab.assert_clean()


async def test_a_hostile_thread_name_in_the_explorer_is_text(tab: Tab) -> None:
    await open_dump(tab, "newer", "dump2")
    page = tab.page
    await page.locator("form.search input[name=q]").fill("<script>")
    async with page.expect_navigation():
        await page.locator("form.search button[type=submit]").click()
    results = page.locator("#results")
    assert HOSTILE_NAME in await results.inner_text()
    # shown, not run: no element came out of it, and no dialog opened
    assert await page.locator("#results img").count() == 0
    assert await page.locator("#results script").count() == 0
    assert not tab.dialogs
    tab.assert_clean()


async def test_what_grew_since_the_earlier_dump_of_the_process(tab: Tab) -> None:
    await open_dump(tab, "newer", "dump2")
    page = tab.page
    growth = page.locator("#growth")
    assert "since jvm/4242-dump1.txt" in await growth.locator("h2").inner_text()
    assert "213 → 448 threads (+235)" in await growth.inner_text()
    assert await growth.locator("svg").count() >= 1  # drawn, before -> after
    # and the dump's stacks as an icicle
    assert await page.locator("#flame svg").count() == 1
    tab.assert_clean()
