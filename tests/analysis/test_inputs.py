"""`hostsnap analyze` on dumps as people have them: compressed, archived, cut, UTF-16.

Compressed and archived dumps must give exactly the findings of the plain files. The
formats are known by their first bytes, so the file names here lie on purpose.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
import typer
import zstandard
from typer.testing import CliRunner

from bot.cli_analyze import register

DATA = Path(__file__).parent / "data"
COMPRESS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip.compress, "zstd": zstandard.compress, "bzip2": bz2.compress,
    "xz": lzma.compress,
}


def analyze(*args: str, stdin: bytes | None = None) -> tuple[int, dict, str]:
    """`hostsnap analyze --json ARGS`: exit code, the JSON document, stderr."""
    app = typer.Typer()
    register(app)
    r = CliRunner().invoke(app, ["--json", *args], input=stdin)
    return r.exit_code, (json.loads(r.stdout) if r.stdout.strip() else {}), r.stderr


def findings(doc: dict) -> list[tuple[str, str]]:
    return [(f["rule"], f["title"]) for f in doc["findings"]]


def tar(members: dict[str, bytes], mode: str = "w") -> bytes:
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode=mode) as t:  # type: ignore[call-overload]
        for name, data in members.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
    return b.getvalue()


def zipped(members: dict[str, bytes]) -> bytes:
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return b.getvalue()


@pytest.mark.parametrize("kind", sorted(COMPRESS))
def test_a_compressed_dump_gives_the_plain_dumps_findings(kind, jvm_dumps, go_dumps, tmp_path):
    for raw in (jvm_dumps["Deadlock"][0], go_dumps["mutex"][0]):
        plain = tmp_path / "plain.txt"
        plain.write_bytes(raw)
        code, want, _ = analyze(str(plain))
        assert code == 1 and want["findings"]  # a deadlock, a mutex pile-up: critical
        packed = tmp_path / "dump.txt"  # no telling extension: the magic bytes decide
        packed.write_bytes(COMPRESS[kind](raw))
        got_code, got, err = analyze(str(packed))
        assert (got_code, err) == (code, "")
        assert findings(got) == findings(want) and got["dumps"] == want["dumps"]
        assert got["inputs"] == [str(packed)]
        # and from stdin, as `curl ... | gunzip`-less people pipe it
        code2, got2, _ = analyze("-", stdin=COMPRESS[kind](raw))
        assert code2 == code and findings(got2) == findings(want)


def test_a_plain_dump_named_gz_is_read_as_text(jvm_dumps, tmp_path):
    f = tmp_path / "dump.txt.gz"
    f.write_bytes(jvm_dumps["Deadlock"][0])
    code, doc, _ = analyze(str(f))
    assert code == 1 and "JVM_DEADLOCK" in {r for r, _ in findings(doc)}


@pytest.mark.parametrize("fmt", ["zip", "tar", "tar.gz", "tar.zst", "tar.xz"])
def test_a_bundle_of_successive_dumps_turns_on_the_between_dumps_rules(fmt, jvm_dumps,
                                                                         tmp_path):
    first, second = jvm_dumps["EvictorLeak"][:2]
    members = {"bundle/README.md": b"# support bundle\nsee the dumps\n",
               "bundle/threads-2.txt": second, "bundle/threads-1.txt": first,
               "bundle/heap.hprof": b"JAVA PROFILE 1.0.2\x00" + bytes(range(256)) * 64}
    if fmt == "zip":
        data = zipped(members)
    else:
        data = tar(members)
        if fmt != "tar":
            data = {"gz": gzip.compress, "zst": zstandard.compress,
                    "xz": lzma.compress}[fmt.split(".")[1]](data)
    bundle = tmp_path / "attachment.bin"
    bundle.write_bytes(data)
    one, two = tmp_path / "1.txt", tmp_path / "2.txt"
    one.write_bytes(first)
    two.write_bytes(second)
    _, want, _ = analyze(str(one), str(two))
    assert "THREAD_GROWTH" in {r for r, _ in findings(want)}

    code, doc, err = analyze(str(bundle))
    assert code == 1 and err == ""
    assert doc["inputs"] == [f"{bundle}:bundle/threads-1.txt", f"{bundle}:bundle/threads-2.txt"]
    assert findings(doc) == findings(want)  # in name order, not the archive's
    assert f"{bundle}:bundle/heap.hprof: skipped (binary)" in doc["warnings"]
    assert f"{bundle}:bundle/README.md: skipped (not a dump)" in doc["warnings"]


def test_a_dump_compressed_inside_an_archive(go_dumps, tmp_path):
    raw = go_dumps["mutex"][0]
    f = tmp_path / "b.zip"
    f.write_bytes(zipped({"goroutines.txt.zst": zstandard.compress(raw)}))
    code, doc, _ = analyze(str(f))
    assert code == 1 and doc["inputs"] == [f"{f}:goroutines.txt.zst"]
    assert "GO_MUTEX_PILEUP" in {r for r, _ in findings(doc)}


def test_a_cut_gzip_is_analyzed_up_to_the_cut(jvm_dumps, tmp_path):
    """Attachments get cut; so do compressed ones. The dump before the cut is analyzed
    and the cut is said, not swallowed."""
    raw = jvm_dumps["Deadlock"][0]
    f = tmp_path / "cut.gz"
    f.write_bytes(gzip.compress(raw)[:-8])  # the CRC/size trailer lost: all text there
    code, doc, err = analyze(str(f))
    assert code == 1 and err == ""
    assert "JVM_DEADLOCK" in {r for r, _ in findings(doc)}
    (note,) = [w for w in doc["warnings"] if "cut or damaged" in w]
    assert note.startswith(f"{f}: the compressed data is cut or damaged after ")


def test_concatenated_gzip_members_are_one_text(jvm_dumps, tmp_path):
    raw = jvm_dumps["Deadlock"][0]
    half = raw.rfind(b'\n"', 0, len(raw) // 2) + 1  # cut between two threads
    f = tmp_path / "two.gz"
    f.write_bytes(gzip.compress(raw[:half]) + gzip.compress(raw[half:]))
    _, want, _ = analyze("-", stdin=raw)
    code, doc, _ = analyze(str(f))
    assert code == 1 and findings(doc) == findings(want) and doc["dumps"] == want["dumps"]


def test_a_utf16_dump_from_powershell(tmp_path):
    """`jstack PID > dump.txt` in Windows PowerShell writes UTF-16 with a BOM."""
    raw = (DATA / "jdk21_handmade.txt").read_bytes()
    f = tmp_path / "ps.txt"
    f.write_bytes(raw.decode().encode("utf-16"))
    want_code, want, _ = analyze(str(DATA / "jdk21_handmade.txt"))
    code, doc, err = analyze(str(f))
    assert (code, err) == (want_code, "") and doc["dumps"] == want["dumps"] and findings(doc) == findings(want)


def test_the_bound_and_its_flag(tmp_path):
    raw = (DATA / "jdk21_handmade.txt").read_bytes()  # 2.4 KB
    f = tmp_path / "d.txt.xz"
    f.write_bytes(lzma.compress(raw))
    code, _, err = analyze("--max-size", "2K", str(f))
    assert code == 2 and err.strip() == (
        f"hostsnap analyze: {f}: more than 2 KiB to read (after decompression); "
        "--max-size raises the bound")
    code, doc, _ = analyze("--max-size", "3K", str(f))
    assert code == 0 and len(doc["dumps"]) == 1
    code, _, err = analyze("--max-size", "lots", str(f))
    assert code == 2 and "--max-size: not a size: 'lots' (e.g. 512M, 2G)" in err


def test_an_archive_without_dumps_is_bad_input(tmp_path):
    f = tmp_path / "logs.tar.gz"
    f.write_bytes(gzip.compress(tar({"app.log": b"INFO started\nINFO stopped\n"})))
    code, _, err = analyze(str(f))
    assert code == 2
    assert err.strip() == f"hostsnap analyze: {f}: no JVM thread dump nor Go goroutine dump inside"


def test_a_docker_log_stream_is_text_not_binary(tmp_path):
    """The Engine API's log stream has NULs in every frame header; it is a dump."""
    raw = (DATA / "go121_handmade.txt").read_bytes()
    frames = b"".join(b"\x01\x00\x00\x00" + len(line).to_bytes(4, "big") + line
                      for line in raw.splitlines(keepends=True))
    f = tmp_path / "docker.log"
    f.write_bytes(frames)
    want_code, want, _ = analyze(str(DATA / "go121_handmade.txt"))
    code, doc, err = analyze(str(f))
    assert (code, err) == (want_code, "") and doc["dumps"] == want["dumps"] and findings(doc) == findings(want)


def test_analyze_starts_without_the_rest_of_the_cli():
    """Start-up is most of what a user waits for on a small dump: the console script runs
    `analyze` without the store (SQLAlchemy), SSH, Slack or the config."""
    import subprocess
    import sys
    import tomllib

    root = DATA.parents[2]
    scripts = tomllib.loads((root / "pyproject.toml").read_text())["project"]["scripts"]
    entry = scripts["hostsnap"]
    module, func = entry.split(":")
    code = (f"import sys\nsys.argv = ['hostsnap', 'analyze', sys.argv[1]]\n"
            f"from {module} import {func}\ntry:\n    {func}()\nexcept SystemExit as e:\n"
            "    print('exit', e.code)\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'sqlalchemy', 'asyncssh', "
            "'slack_bolt', 'slack_sdk', 'aiohttp', 'alembic', 'asyncpg', 'aiosqlite'}))\n"
            "print(sorted(m for m in sys.modules if m in ('bot.cli', 'bot.config', 'bot.store')))")
    r = subprocess.run([sys.executable, "-c", code, str(DATA / "jdk21_handmade.txt")],
                       capture_output=True, text=True, timeout=60, cwd=root)
    assert r.returncode == 0, r.stderr
    assert "dump 1: jcmd pid 4242, 4 threads" in r.stdout
    assert r.stdout.splitlines()[-3:] == ["exit 0", "[]", "[]"]
