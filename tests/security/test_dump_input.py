"""`hostsnap analyze` on input meant to hurt: endless, binary, bombs, archive path tricks.

Each case runs the real command as a process (`python -m bot analyze`, what the console
script runs) with a time bound, and reads the process's own peak RSS from wait4().
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import os
import subprocess
import sys
import tarfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import zstandard

ROOT = Path(__file__).resolve().parents[2]
DUMP = (ROOT / "tests/analysis/data/jdk21_handmade.txt").read_bytes()
MiB = 1024**2


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    seconds: float
    peak_mib: float


def hostsnap(*args: str, cwd: Path | None = None, timeout: float = 30) -> Run:
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "bot", "analyze", *args], cwd=cwd or ROOT,
                       capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
                       env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"})
    return Run(r.returncode, r.stdout, r.stderr, time.monotonic() - t0, 0.0)


# Linux keeps a process's RSS high-water mark across fork and exec: a child of this
# (big) pytest process would report pytest's RSS as its own peak. So a small Python
# forks hostsnap and reports its wait4() peak on the last line of stderr.
_REAPER = """import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.executable, [sys.executable, *sys.argv[1:]])
_, status, ru = os.wait4(pid, 0)
sys.stderr.write(f"\\n@maxrss_kib {ru.ru_maxrss}\\n")
sys.exit(os.waitstatus_to_exitcode(status))
"""


def hostsnap_rss(*args: str, stdin: int | None = None, timeout: float = 30) -> Run:
    """Like hostsnap(), with the process's own peak RSS."""
    t0 = time.monotonic()
    p = subprocess.Popen([sys.executable, "-c", _REAPER, "-m", "bot", "analyze", *args],
                         stdin=stdin if stdin is not None else subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, start_new_session=True)
    try:
        _, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, 9)  # the reaper and hostsnap: the group this test started
        p.communicate()
        pytest.fail(f"hostsnap analyze {args} still running after {timeout}s")
    text, _, peak = err.decode().rstrip("\n").rpartition("\n@maxrss_kib ")
    return Run(p.returncode, "", text, time.monotonic() - t0, int(peak) / 1024)


def one_line(r: Run) -> str:
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    return lines[0]


def test_dev_zero_is_refused_from_its_first_bytes():
    r = hostsnap_rss("/dev/zero", timeout=10)
    assert r.code == 2
    assert one_line(r) == "hostsnap analyze: /dev/zero: not a dump: binary input"
    assert r.seconds < 5 and r.peak_mib < 120, (r.seconds, r.peak_mib)


def test_endless_random_bytes_on_stdin_end_at_once():
    src = subprocess.Popen(["cat", "/dev/urandom"], stdout=subprocess.PIPE)
    try:
        assert src.stdout is not None
        r = hostsnap_rss("-", stdin=src.stdout.fileno(), timeout=10)
    finally:
        src.kill()
        src.wait()
    assert r.code == 2 and one_line(r) == "hostsnap analyze: stdin: not a dump: binary input"
    assert r.seconds < 5 and r.peak_mib < 120, (r.seconds, r.peak_mib)


@pytest.mark.parametrize("bound, peak", [("8M", 120), ("", 256 + 150)])
def test_endless_text_stops_at_the_bound(bound, peak):
    """`yes | hostsnap analyze -`: text, so read on (a dump may follow log lines), but
    never past the bound (default 256 MiB): memory stays bounded."""
    src = subprocess.Popen(["yes"], stdout=subprocess.PIPE)
    try:
        assert src.stdout is not None
        args = ["--max-size", bound, "-"] if bound else ["-"]
        r = hostsnap_rss(*args, stdin=src.stdout.fileno(), timeout=30)
    finally:
        src.kill()
        src.wait()
    shown = {"8M": "8 MiB", "": "256 MiB"}[bound]
    assert r.code == 2 and one_line(r) == (
        f"hostsnap analyze: stdin: more than {shown} to read (after decompression); "
        "--max-size raises the bound")
    assert r.peak_mib < peak, r.peak_mib


def _bomb(kind: str) -> bytes:
    """1 GiB of text (128 MiB for zip) in a few MB at most: many members of 8 MiB each,
    concatenated, as every one of these formats allows."""
    text = b"a" * (8 * MiB)
    if kind == "zip":
        b = io.BytesIO()
        with zipfile.ZipFile(b, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
            for i in range(16):
                z.writestr(f"part{i:02}.txt", text)
        return b.getvalue()
    compress = {"gz": lambda d: gzip.compress(d, 1), "bz2": bz2.compress,
                "xz": lambda d: lzma.compress(d, preset=0), "zst": zstandard.compress}[kind]
    return compress(text) * 128


@pytest.mark.parametrize("kind", ["gz", "zst", "bz2", "xz", "zip"])
def test_a_compression_bomb_stops_at_the_bound(kind, tmp_path):
    bomb = tmp_path / f"bomb.{kind}"
    bomb.write_bytes(_bomb(kind))
    assert bomb.stat().st_size < 5 * MiB
    r = hostsnap_rss("--max-size", "32M", str(bomb), timeout=30)
    assert r.code == 2
    line = one_line(r)
    assert line.startswith(f"hostsnap analyze: {bomb}")  # a zip names its member
    assert line.endswith(": more than 32 MiB to read (after decompression); "
                         "--max-size raises the bound")
    assert r.peak_mib < 150, r.peak_mib


def test_archive_members_are_read_never_extracted(tmp_path):
    """Names that climb out, absolute names, links and devices: only regular members are
    read, in memory; nothing is written anywhere, nothing a link points to is read."""
    work = tmp_path / "work"
    work.mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_text('"leaked-secret-thread" #1 prio=5 os_prio=0 tid=0x1 nid=0x1 '
                      "runnable\n   java.lang.Thread.State: RUNNABLE\n\n")
    escape = tmp_path / "escaped"
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w:gz") as t:
        for name in ("../escaped/up.txt", str(escape / "abs.txt"), "ok/jstack.txt"):
            ti = tarfile.TarInfo(name)
            ti.size = len(DUMP)
            t.addfile(ti, io.BytesIO(DUMP))
        for kind, target in ((tarfile.SYMTYPE, str(secret)), (tarfile.LNKTYPE, str(secret))):
            ti = tarfile.TarInfo(f"link{kind!r}")
            ti.type, ti.linkname = kind, target
            t.addfile(ti)
        dev = tarfile.TarInfo("zero")
        dev.type, dev.devmajor, dev.devminor = tarfile.CHRTYPE, 1, 5
        t.addfile(dev)
    bundle = tmp_path / "bundle.tgz"
    bundle.write_bytes(b.getvalue())
    zb = io.BytesIO()
    with zipfile.ZipFile(zb, "w") as z:
        z.writestr("../../escaped/zip-up.txt", DUMP)
        z.writestr(str(escape / "zip-abs.txt"), DUMP)
    bundle_zip = tmp_path / "bundle.zip"
    bundle_zip.write_bytes(zb.getvalue())
    before = sorted(p for p in tmp_path.rglob("*"))

    r = hostsnap("--json", str(bundle), str(bundle_zip), cwd=work)
    assert r.code == 0, r.stderr
    assert sorted(p for p in tmp_path.rglob("*")) == before  # nothing written
    assert not escape.exists()
    assert "leaked-secret-thread" not in r.stdout
    doc = json.loads(r.stdout)
    # member names are only labels (sorted by name within each archive)
    assert doc["inputs"] == [f"{bundle}:../escaped/up.txt", f"{bundle}:{escape}/abs.txt",
                             f"{bundle}:ok/jstack.txt", f"{bundle_zip}:../../escaped/zip-up.txt",
                             f"{bundle_zip}:{escape}/zip-abs.txt"]
    assert len(doc["dumps"]) == 5


def test_a_stream_of_empty_gzip_members_ends_at_the_bound(tmp_path):
    """Endless compressed input that decompresses to nothing: the raw bytes are bounded
    too, or this would never end."""
    empty = gzip.compress(b"")
    src = subprocess.Popen([sys.executable, "-c",
                            f"import sys\nwhile True: sys.stdout.buffer.write({empty!r} * 4096)"],
                           stdout=subprocess.PIPE)
    try:
        assert src.stdout is not None
        r = hostsnap_rss("--max-size", "4M", "-", stdin=src.stdout.fileno(), timeout=20)
    finally:
        src.kill()
        src.wait()
    assert r.code == 2
    assert one_line(r) == ("hostsnap analyze: stdin: more than 4 MiB of input; "
                           "--max-size raises the bound")


def test_an_archive_of_many_binary_members_ends_at_the_bound(tmp_path):
    """Binary members are skipped from their first 64 KiB; those heads count against the
    bound, so an archive of thousands of them is not read to its end."""
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", zipfile.ZIP_DEFLATED) as z:
        for i in range(40):
            z.writestr(f"blob{i:02}.bin", bytes(64 * 1024))  # NULs: binary
    f = tmp_path / "blobs.zip"
    f.write_bytes(b.getvalue())
    assert f.stat().st_size < 64 * 1024  # the zip itself is well within the bound
    r = hostsnap("--max-size", "1M", str(f))
    assert r.code == 2
    assert r.stderr.strip() == (f"hostsnap analyze: {f}:blob16.bin: more than 1 MiB to read "
                                "(after decompression); --max-size raises the bound")
