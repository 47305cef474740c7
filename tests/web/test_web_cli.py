"""`hostsnap web` as a user runs it: a real process on 127.0.0.1 printing a
one-time URL, opened by a real HTTP client."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import aiohttp

from bot.store.service import Store
from tests.web.conftest import stored_snapshot

URL = re.compile(r"hostsnap pages: (http://127\.0\.0\.1:(\d+)(/\S*)\?t=(\S+))")


async def _start(db: Path, tmp: Path, *argv: str) -> tuple[asyncio.subprocess.Process, str]:
    cfg = tmp / "config.toml"
    cfg.write_text(f'database_url = "sqlite:///{db}"\n')
    env = {**os.environ, "HOSTSNAP_CONFIG": str(cfg), "USER": "opsperson",
           "LOGNAME": "opsperson"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "import sys; sys.argv[0] = 'hostsnap'; "
        "from bot.entry import main; main()", "web", "--port", "0", *argv,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env)
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
    if not line:
        err = (await proc.stderr.read()).decode() if proc.stderr else ""
        raise AssertionError(f"hostsnap web printed nothing: {err}")
    return proc, line


async def _stop(proc: asyncio.subprocess.Process) -> int:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)  # our own child, by its pid
    return await asyncio.wait_for(proc.wait(), 15)


async def test_hostsnap_web_prints_a_one_time_url_that_opens_the_snapshot(tmp_path, store):
    sid = await stored_snapshot(store)
    db = Path(str(store.engine.url.database))
    proc, line = await _start(db, tmp_path, sid[:6])
    try:
        m = URL.search(line)
        assert m, line
        url, port, path, _token = m.groups()
        assert path == f"/s/{sid}"
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(cookie_jar=jar) as me:
            r = await me.get(url)
            body = await r.text()
            assert r.status == 200, body
            assert "web-03" in body and "local operator opsperson" in body
            # the cookie it set opens the other pages
            r = await me.get(f"http://127.0.0.1:{port}/")
            assert r.status == 200 and sid in await r.text()
        async with aiohttp.ClientSession() as someone_else:
            r = await someone_else.get(url)
            assert r.status == 401 and "already used" in await r.text()
            r = await someone_else.get(f"http://127.0.0.1:{port}/s/{sid}")
            assert r.status == 401
    finally:
        assert await _stop(proc) == 0
    views = await store.audit_events(snapshot_id=sid, action="view")
    assert views and views[0].actor == "cli:opsperson" and views[0].detail == {"interface": "web"}


async def test_hostsnap_web_with_an_unknown_id_says_so_and_exits(tmp_path, store: Store):
    await stored_snapshot(store)
    db = Path(str(store.engine.url.database))
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'database_url = "sqlite:///{db}"\n')
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "import sys; sys.argv[0] = 'hostsnap'; "
        "from bot.entry import main; main()", "web", "--port", "0", "--config", str(cfg),
        "zzzz9999", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2
    assert "zzzz9999" in err.decode() and b"hostsnap pages" not in out


async def test_hostsnap_web_with_an_id_parses_its_dumps_before_anyone_looks(tmp_path, store):
    """The explorer of a dump nobody has opened takes the parse (0.8 s for
    30 000 threads): `hostsnap web ID` starts it at once, as a Slack summary
    does, so the click finds the page kept."""
    from bot.render.dumpview import VIEW_VERSION
    from collectors.analysis.stage import RULES_VERSION

    sid = await stored_snapshot(store)
    db = Path(str(store.engine.url.database))
    proc, _ = await _start(db, tmp_path, sid)
    try:
        kept = None
        for _ in range(150):  # nothing is opened: the warm-up alone keeps it
            kept = await store.get_dump_view(sid, 0, f"{VIEW_VERSION}.{RULES_VERSION}")
            if kept is not None:
                break
            await asyncio.sleep(0.1)
        assert kept is not None, "the dump's page was not kept within 15 s"
    finally:
        assert await _stop(proc) == 0
    assert not await store.audit_events(snapshot_id=sid, action="view")  # nobody looked
