"""Screenshots of every page for the README, made by Debian's Chromium
(Playwright) from the same stored data the browser tests use
(tests/web/browser/conftest.py seed(): snapshots made from the committed dump
corpus, fixed ids), served by the real pages on 127.0.0.1.

    .venv/bin/python scripts/screenshots.py [OUTDIR]   # default docs/screenshots

Dates and ages on the pages are those of the run; everything else is the same
every time."""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.app import App  # noqa: E402
from bot.settings.slack import AuthzRule  # noqa: E402
from tests.web.browser.conftest import (  # noqa: E402
    CHANNEL,
    VIEWER,
    launch_chromium,
    seed,
    site_settings,
    start_pages,
)

WIDTH = 1280
#: a page taller than this is cut (the README shows the top of it)
MAX_HEIGHT = 1600


async def shoot(page: Any, out: Path, name: str, *, open_first_group: bool = False) -> Path:
    await page.wait_for_load_state("networkidle")
    if open_first_group:
        first = page.locator("details.group").first
        await first.locator("summary").click()
        await first.locator(".group-body").wait_for()
    height = await page.evaluate("document.documentElement.scrollHeight")
    path = out / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True,
                          clip={"x": 0, "y": 0, "width": WIDTH,
                                "height": min(height, MAX_HEIGHT)})
    print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: "
          f"{WIDTH}x{min(height, MAX_HEIGHT)}{' (cut)' if height > MAX_HEIGHT else ''}")
    return path


async def main(out: Path) -> None:
    from playwright.async_api import async_playwright

    with tempfile.TemporaryDirectory(prefix="hostsnap-shots-") as d:
        settings = site_settings(f"sqlite+aiosqlite:///{d}/hostsnap.db")
        # the person in the pictures may see every group (the lock graph is in `vault`)
        settings.authz = [AuthzRule(groups=["*"], channels=["*"], user_groups=[VIEWER],
                                    raw_files=True)]
        core = await App.open(settings)
        ids, fleet = await seed(core.store, fixed_ids=True)
        runner, url, state = await start_pages(core, settings.web)
        try:
            async with async_playwright() as pw:
                browser = await launch_chromium(pw)
                ctx = await browser.new_context(viewport={"width": WIDTH, "height": 900})
                page = await ctx.new_page()

                async def go(path: str) -> None:
                    r = await page.goto(url + path)
                    assert r is not None and r.status == 200, f"{path}: {r and r.status}"

                newer = ids["newer"]
                # signed in as a person is: the Open in browser link
                await go(f"/s/{newer}?t={state.signer.link(newer, VIEWER, CHANNEL, 3600)}")
                await shoot(page, out, "snapshot")
                await go("/")
                await shoot(page, out, "index")
                await go(f"/s/{newer}/dump/1")
                await shoot(page, out, "explorer-jvm", open_first_group=True)
                await go(f"/s/{newer}/dump/1/search?q=ThreadPoolExecutor.getTask&state=")
                await shoot(page, out, "explorer-search")
                await go(f"/s/{ids['vault']}/dump/0")
                await shoot(page, out, "explorer-locks")
                await go(f"/s/{ids['go']}/dump/0")
                await shoot(page, out, "explorer-go", open_first_group=True)
                await go(f"/compare/{ids['older']}/{newer}")
                await shoot(page, out, "compare")
                await go("/h/web-03")
                await shoot(page, out, "host")
                await go("/fleet/" + ",".join(fleet))
                await shoot(page, out, "fleet")
                await go("/alerts")
                await shoot(page, out, "alerts")
                await browser.close()
        finally:
            await runner.cleanup()
            await core.close()


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screenshots"
    target.mkdir(parents=True, exist_ok=True)
    asyncio.run(main(target))
