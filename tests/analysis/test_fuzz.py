"""Hypothesis: no input crashes a parser. Random bytes and text, and real dumps mutated
(truncated at random points, random lines dropped or duplicated, CRLF, log prefixes,
random bytes spliced in). The parsers are called directly: analyze_dumps' own
exception guard must never be what saves the day."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collectors.analysis.dumps import (
    analyze_dumps,
    detect_format,
    diff_goroutine_dumps,
    diff_thread_dumps,
)
from collectors.analysis.dumptext import prepare
from collectors.analysis.goroutines import parse_debug1, parse_debug2, parse_goroutines
from collectors.analysis.gorules import goroutine_findings
from collectors.analysis.jstack import parse_thread_dump
from collectors.analysis.threadrules import thread_findings
from collectors.analysis.thresholds import GoroutineThresholds, ThreadDumpThresholds

DATA = Path(__file__).parent / "data"
FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
JT, GT = ThreadDumpThresholds(), GoroutineThresholds()


def _all_parsers(data: bytes) -> None:
    text, _ = prepare(data)
    detect_format(text)
    jd = parse_thread_dump(text)
    thread_findings([jd, jd], JT)
    jd.summary()
    diff_thread_dumps(jd, jd)
    for parse in (parse_debug2, parse_debug1, parse_goroutines):
        gd = parse(text)
        goroutine_findings([gd, gd], GT)
        gd.summary()
        diff_goroutine_dumps(gd, gd)


@FUZZ
@given(st.binary(max_size=4000))
def test_random_bytes(data):
    _all_parsers(data)
    a = analyze_dumps([data])
    assert not any(w.startswith(("parser error", "rule error")) for w in a.warnings)


LINE_STARTS = ['"t-1" #1 prio=5 os_prio=0 tid=0x1 nid=0x2 runnable', "\tat a.B.c(B.java:1)",
               "\t- locked <0x1> (a java.lang.Object)", "\t- waiting to lock <0x1>",
               "   java.lang.Thread.State: BLOCKED", "Found one Java-level deadlock:",
               '"t-1":', "  which is held by", "Java stack information for the threads",
               "Found 1 deadlock.", "goroutine 1 [sync.Mutex.Lock, 5 minutes]:",
               "sync.(*Mutex).lockSlow(0xc0000)", "\t/a.go:1 +0x1", "created by x in goroutine 1",
               "goroutine profile: total 3", "3 @ 0x1 0x2", "#\t0x1\tf+0x1\t/a.go:1",
               "JNI global refs: 1", "   Locked ownable synchronizers:", "\t- <0x1>",
               "   Carrying virtual thread #", "...additional frames elided...", ""]


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(LINE_STARTS), st.text(max_size=30)), max_size=60))
def test_dump_like_lines(pieces):
    """Lines that start like dump lines with random tails hit every parser branch."""
    _all_parsers("\n".join(a + b for a, b in pieces).encode())


def _real_dumps(jvm_dumps, go_dumps) -> list[bytes]:
    small = [jvm_dumps["Deadlock"][0], jvm_dumps["LockConvoy.sigquit"][0],
             jvm_dumps["Http31Pool"][0], go_dumps["healthy"][0], go_dumps["healthy"][1],
             go_dumps["leak"][1]]
    return small + [p.read_bytes() for p in sorted(DATA.glob("*_handmade.txt"))]


@st.composite
def mutated(draw, dumps):
    data = draw(st.sampled_from(dumps))
    lines = data.split(b"\n")
    for _ in range(draw(st.integers(0, 6))):
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["drop", "dup", "cut", "junk"]))
        if op == "drop":
            del lines[i]
        elif op == "dup":
            lines.insert(i, lines[i])
        elif op == "cut":
            lines[i] = lines[i][: draw(st.integers(0, max(len(lines[i]) - 1, 0)))]
        else:
            lines[i] = lines[i] + draw(st.binary(max_size=12))
    if draw(st.booleans()):
        lines = [b"2024-01-01T00:00:00.000000001Z stdout F " + ln for ln in lines]
    out = b"\n".join(lines)
    if draw(st.booleans()):
        out = out.replace(b"\n", b"\r\n")
    return out[: draw(st.integers(0, len(out)))]  # truncated anywhere


@pytest.fixture(scope="module")
def real(jvm_dumps, go_dumps) -> list[bytes]:
    return _real_dumps(jvm_dumps, go_dumps)


def test_mutated_real_dumps(real):
    @FUZZ
    @given(mutated(real))
    def run(data):
        _all_parsers(data)
        a = analyze_dumps([data, data])
        assert not any(w.startswith(("parser error", "rule error")) for w in a.warnings)

    run()
