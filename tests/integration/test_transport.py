"""The SSH transport's file operations against a real sshd (batched SFTP)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from bot.config import load_settings
from bot.inventory import Inventory
from collectors.transport.base import PathGone
from collectors.transport.ssh import SSHSession
from tests.integration.helpers import write_config

pytestmark = pytest.mark.root


@pytest.fixture
async def session(host, tmp_path):
    inv = Inventory(load_settings(write_config(tmp_path / "c.toml", [host],
                                               db_url="sqlite:///x")))
    s = await SSHSession.connect(inv.ssh_target(inv.resolve([host.name])[0]))
    yield s
    await s.close()


@pytest.fixture
def shared_dir():
    d = Path(tempfile.mkdtemp(prefix="hostsnap-transport-"))
    os.chmod(d, 0o777)  # the SSH user (snap) writes here too
    yield d
    for p in d.iterdir():
        p.unlink()
    d.rmdir()


async def test_big_files_dirs_links_and_writes(session, shared_dir):
    big = os.urandom(3 * 1024 * 1024 + 17)
    (shared_dir / "big.bin").write_bytes(big)
    for i in range(1500):  # several READDIR replies
        (shared_dir / f"f{i:04d}").write_text("x")
    (shared_dir / "link").symlink_to(shared_dir / "big.bin")

    assert await session.read_file(str(shared_dir / "big.bin")) == big
    assert await session.read_file(str(shared_dir / "big.bin"), limit=100_000) == big[:100_000]
    assert await session.read_range(str(shared_dir / "big.bin"), 1000, 5000) == big[1000:6000]
    assert await session.file_size(str(shared_dir / "link")) == len(big)
    assert await session.read_tail(str(shared_dir / "big.bin"), 10) == big[-10:]
    names = await session.listdir(str(shared_dir))
    assert len(names) == 1502 and "f1499" in names and "." not in names
    assert await session.readlink(str(shared_dir / "link")) == str(shared_dir / "big.bin")

    await session.write_file(str(shared_dir / "new"), b"hello")
    assert (shared_dir / "new").read_bytes() == b"hello"
    await session.remove(str(shared_dir / "new"))
    assert not (shared_dir / "new").exists()
    await session.remove(str(shared_dir / "new"))  # already gone: fine


async def test_vanished_files_map_to_none_and_errors_are_pathgone(session):
    got = await session.read_files(["/proc/loadavg", "/proc/999999/status", "/nope"])
    assert got["/proc/loadavg"] and got["/proc/999999/status"] is None and got["/nope"] is None
    with pytest.raises(PathGone):
        await session.read_file("/proc/999999/status")
    with pytest.raises(PathGone):
        await session.listdir("/nope")
    # a multi-page seq_file is read to its end, not cut at the first page
    tcp = await session.read_file("/proc/net/tcp")
    assert tcp.startswith(b"  sl  local_address")


async def test_many_concurrent_reads_share_one_session(session, shared_dir):
    for i in range(1200):  # more than the open-file cap of the session
        (shared_dir / f"f{i}").write_bytes(str(i).encode() * (i % 50 + 1))
    got = await session.read_files([str(shared_dir / f"f{i}") for i in range(1200)])
    assert all(got[str(shared_dir / f"f{i}")] == str(i).encode() * (i % 50 + 1)
               for i in range(1200))
