"""Review of `hostsnap web` (brief WR): what a careless operator is told."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from bot.store.service import Store
from tests.web.test_web_cli import URL, _start, _stop


async def _run(tmp: Path, db: Path, *argv: str) -> tuple[int, str]:
    cfg = tmp / "config2.toml"
    cfg.write_text(f'database_url = "sqlite:///{db}"\n')
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "import sys; sys.argv[0] = 'hostsnap'; "
        "from bot.entry import main; main()", "web", *argv,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "HOSTSNAP_CONFIG": str(cfg)})
    try:
        _out, err = await asyncio.wait_for(proc.communicate(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()  # our own child, by its pid
            await proc.wait()
    return proc.returncode or 0, err.decode()


async def test_a_port_in_use_says_so_and_what_to_do(tmp_path, store: Store):
    db = Path(str(store.engine.url.database))
    first, line = await _start(db, tmp_path)
    try:
        m = URL.search(line)
        assert m, line
        rc, err = await _run(tmp_path, db, "--port", m.group(2))
    finally:
        await _stop(first)
    assert rc == 2
    assert f"cannot listen on 127.0.0.1:{m.group(2)}: the port is in use" in err, err
    assert "--port 0 picks a free one" in err
    assert "Traceback" not in err


async def test_an_address_not_of_this_machine_says_so(tmp_path, store: Store):
    db = Path(str(store.engine.url.database))
    rc, err = await _run(tmp_path, db, "--bind", "192.0.2.1", "--port", "0")
    assert rc == 2 and "192.0.2.1 is not an address of this machine" in err, err


async def test_listening_beyond_loopback_warns(tmp_path, store: Store):
    db = Path(str(store.engine.url.database))
    proc, line = await _start(db, tmp_path, "--bind", "0.0.0.0")
    try:
        assert URL.search(line), line
        assert proc.stderr is not None
        warning = (await asyncio.wait_for(proc.stderr.readline(), 10)).decode()
    finally:
        await _stop(proc)
    assert warning.startswith("warning: listening on 0.0.0.0, not only this machine"), warning
    assert "unencrypted" in warning and "ssh -L" in warning
