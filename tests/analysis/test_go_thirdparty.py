"""Third-party Go tracebacks (tests/analysis/corpus/thirdparty/go, see NOTICE): Go 1.3 to
1.21, panics, SIGQUIT, cgo, tracebackancestors, elided frames, Windows paths, indented
and CRLF output. No crash, the right counts; where upstream's golden files give each
goroutine's state, wait minutes and frames, the same."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from collectors.analysis.dumps import analyze_dumps, parse_dump
from collectors.analysis.goroutines import GoroutineDump

CORPUS = Path(__file__).parent / "corpus" / "thirdparty" / "go"
MANIFEST = json.loads((CORPUS / "manifest.json").read_text())


@pytest.mark.parametrize("entry", MANIFEST, ids=[e["file"] for e in MANIFEST])
def test_thirdparty_dump(entry):
    data = (CORPUS / entry["file"]).read_bytes()
    want = entry["expect"]
    parsed, warnings = parse_dump(data)
    assert not [w for w in warnings if "error" in w], warnings
    if want.get("detected") is False:
        assert parsed == []
        return
    (d,) = parsed
    assert isinstance(d, GoroutineDump)
    assert d.total == want["goroutines"]
    malformed = [w for w in d.warnings if "malformed" in w]
    assert malformed == ([f"{want['malformed']} malformed goroutine record(s) skipped or "
                          "partial"] if want["malformed"] else [])
    assert d.truncated == want["truncated"], d.warnings
    text = data.decode()
    if text.lstrip().startswith(("panic: ", "SIGQUIT")):
        assert d.panic == text.lstrip().split("\n", 1)[0]  # the preamble, not a record
    by_id = {g.id: g for g in d.goroutines}
    for gid, state, minutes, frames, locked in entry.get("upstream_goroutines", []):
        g = by_id[gid]
        assert (g.state, g.minutes, len(g.stack.funcs), g.locked) == (
            state, minutes, frames, locked), gid
    a = analyze_dumps([data])  # the rules run on it without error
    assert not [w for w in a.warnings if "error" in w], a.warnings


def test_ancestor_stacks_are_not_this_goroutines_frames():
    (d,), _ = parse_dump((CORPUS / "gostackparse_ancestors.txt").read_bytes())
    assert isinstance(d, GoroutineDump)
    g25 = next(g for g in d.goroutines if g.id == 25)
    assert g25.stack.funcs == ("main.bar", "main.foo.func2")
    assert g25.stack.created_by == "main.d1"


def test_elided_frames_are_a_deep_stack_not_a_cut_one():
    (d,), _ = parse_dump((CORPUS / "gostackparse_frameselided.txt").read_bytes())
    assert isinstance(d, GoroutineDump)
    assert not d.truncated and d.warnings == []
    # the same dump cut in the middle of a frame is called truncated
    lines = (CORPUS / "gostackparse_frameselided.txt").read_text().split("\n")
    cut = lines[:42]  # ends on a function line
    (c,), _ = parse_dump("\n".join(cut) + "\n")
    assert isinstance(c, GoroutineDump)
    assert c.truncated


def test_go123_crash_headers_handmade():
    """Hand-written after Go 1.23+'s GOTRACEBACK=crash output (no third-party fixture of
    it with a known licence): `gp= m= mp=` between the id and the state."""
    text = ("fatal error: out of memory\n\n"
            "goroutine 1 gp=0xc000002380 m=6 mp=0xc0002e4808 [running]:\n"
            "runtime.throw({0x247d3ca?, 0xc0002e4808?})\n"
            "\truntime/panic.go:1101 +0x48 fp=0xc00166c4b0 sp=0xc00166c480 pc=0x4780e8\n"
            "main.main()\n"
            "\t/src/app/main.go:12 +0x1d fp=0xc00166c4d0 sp=0xc00166c4b0 pc=0x4780f0\n\n"
            "goroutine 7 gp=0xc000003880 m=nil [chan receive, 3 minutes]:\n"
            "main.worker(0xc000020060)\n"
            "\t/src/app/main.go:30 +0x25 fp=0xc00166c5d0 sp=0xc00166c5b0 pc=0x4781f0\n"
            "created by main.main in goroutine 1\n"
            "\t/src/app/main.go:10 +0x3c fp=0xc00166c5f0 sp=0xc00166c5d0 pc=0x478200\n")
    (d,), warnings = parse_dump(text.encode())
    assert isinstance(d, GoroutineDump) and warnings == []
    assert d.panic == "fatal error: out of memory" and d.warnings == []
    assert [(g.id, g.state, g.minutes, g.stack.funcs) for g in d.goroutines] == [
        (1, "running", 0, ("runtime.throw", "main.main")),
        (7, "chan receive", 3, ("main.worker",))]
    assert d.goroutines[1].stack.created_by == "main.main"
    assert d.goroutines[1].stack.files == ("/src/app/main.go:30 +0x25",
                                           "/src/app/main.go:10 +0x3c")
