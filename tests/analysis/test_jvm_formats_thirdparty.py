"""JVM dump formats this project's own workloads do not print, and other projects' dumps.

- tests/analysis/corpus/thirdparty/jvm/: the test fixtures of TDA, jthreaddump and Eclipse
  Jifa (Java 1.5 to 25, HP-UX, VisualVM, JDK 21 JSON; sources and licences in NOTICE),
  with the expected result of each in manifest.json, checked here against an
  independent count of their thread header lines.
- tests/analysis/corpus/formats/: dumps of VThreads.java (platform and virtual threads,
  blocked on a monitor, parked on a lock, sleeping, spinning) taken on Temurin 25 as
  `jcmd Thread.dump_to_file` (JSON and text), jcmd Thread.print, jstack, jhsdb jstack and
  SIGQUIT; and a jstack -F (JDK 8 serviceability agent) dump written by hand.
- Dumps inside container logs: a real SIGQUIT output with docker / kubectl prefixes and
  application log lines written in by the test.
"""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from bot.cli_analyze import register
from collectors.analysis.dumps import analyze_dumps, detect_format, parse_dump
from collectors.analysis.jstack import VM_STATE, ThreadDump

CORPUS = Path(__file__).parent / "corpus"
THIRDPARTY = CORPUS / "thirdparty" / "jvm"
FORMATS = CORPUS / "formats"
MANIFEST = json.loads((THIRDPARTY / "manifest.json").read_text())["entries"]

# An independent count of thread headers: one per thread in every text format read here.
HEADERS = re.compile(
    r'(?m)^"[^\n]*"[^\n]*(?:prio=|tid=| id=\d|t@\d| #\d)'  # jstack, jcmd, Java 6, VisualVM
    r"|^(?:daemon )?(?:prio=\d+ )?os_prio=-?\d+ [^\n]*tid="  # JDK 25: a thread without a name
    r"|^Thread (?:t@)?\d+: \(state = "  # jstack -F
    r'|^#\d+ "')  # Thread.dump_to_file text


def read(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data


def parse_jvm(data: bytes, kind: str | None = None) -> tuple[list[ThreadDump], list[str]]:
    dumps, warnings = parse_dump(data, kind)
    assert all(isinstance(d, ThreadDump) for d in dumps)
    return [d for d in dumps if isinstance(d, ThreadDump)], warnings


def unrecognized(warnings: list[str]) -> int:
    return sum(int(m[1]) for w in warnings if (m := re.match(r"(\d+) unrecognized", w)))


def all_warnings(dumps: list[ThreadDump], warnings: list[str]) -> list[str]:
    return warnings + [w for d in dumps for w in d.warnings]


# --- the third-party corpus ----------------------------------------------------------------


def test_corpus_is_documented():
    """Every kept file is in the manifest and its project in NOTICE, with its licence."""
    kept = {p.relative_to(THIRDPARTY).as_posix() for p in THIRDPARTY.rglob("*")
            if p.is_file() and p.parts[len(THIRDPARTY.parts)] in ("tda", "jthreaddump", "jifa")}
    assert kept == {e["file"] for e in MANIFEST}
    assert len(kept) >= 30
    notice = (THIRDPARTY / "NOTICE").read_text()
    for e in MANIFEST:
        assert e["repo"] in notice and e["licence"] in (
            "LGPL-2.1", "MIT", "EPL-2.0"), e
    licences = {p.name for p in (THIRDPARTY / "LICENSES").iterdir()}
    assert {"tda-LGPL-2.1.txt", "jthreaddump-MIT.txt", "jifa-EPL-2.0.txt"} <= licences
    assert sum(p.stat().st_size for p in THIRDPARTY.rglob("*") if p.is_file()) < 2_000_000


@pytest.mark.parametrize("entry", MANIFEST, ids=[e["file"] for e in MANIFEST])
def test_thirdparty_dump(entry):
    data = read(THIRDPARTY / entry["file"])
    dumps, warnings = parse_jvm(data)
    every = all_warnings(dumps, warnings)
    assert not any("parser error" in w for w in every), every
    text = data.replace(b"\x00", b"").decode("utf-8", "replace")
    assert detect_format(text.replace("\r\n", "\n")) == entry["format"]
    counts = [len(d.threads) for d in dumps]
    assert counts == entry["threads"]
    headers = (text.count('"tid":') if entry["format"] == "jcmd-json"
               else len(HEADERS.findall(text)))
    assert sum(counts) == headers
    assert unrecognized(every) == entry["unrecognized"]
    assert any(d.truncated for d in dumps) == entry["truncated"]
    # A thread is "(vm)" only where the dump prints no state for it: never in dumps
    # without state lines (the state comes from the header), never in more threads
    # than have no state line.
    states = [t.state for d in dumps for t in d.threads]
    state_lines = len(re.findall(r"(?m)^\s+java\.lang\.Thread\.State: ", text))
    if entry["format"] == "jcmd-json":
        assert VM_STATE not in states
    elif state_lines == 0:
        assert VM_STATE not in states, entry["file"]
    elif not entry.get("reversed"):
        assert len(states) - states.count(VM_STATE) >= state_lines
    analyze_dumps([data])  # the rules run on every one of them


def test_thirdparty_java6_and_hpux_states_from_the_header():
    """Java 6 prints `"x" id=3149 in RUNNABLE`; HP-UX and Java 5 print no state at all:
    before, every such thread was "(vm)"."""
    dumps, _ = parse_jvm(read(THIRDPARTY / "tda" / "test.log"))
    first = dumps[0].threads[0]
    assert (first.name, first.java_id, first.state) == (
        "RMI TCP Connection(23)-127.0.1.1", 3149, "RUNNABLE")
    assert len(first.stack.frames) == 11  # frames indented with four spaces
    assert first.stack.frames[0] == "java.net.SocketInputStream.socketRead0(Native Method)"
    hp, _ = parse_jvm(read(THIRDPARTY / "tda" / "hpdump.log.gz"))
    states = {t.state for d in hp for t in d.threads}
    assert states == {"RUNNABLE", "WAITING", "TIMED_WAITING"}
    java5, _ = parse_jvm(read(THIRDPARTY / "tda" / "testwithhistogram.log"))
    timer = next(t for t in java5[0].threads if t.name == "Timer-0")
    assert (timer.state, timer.status) == ("WAITING", "in Object.wait()")


def test_thirdparty_jdk25_thread_without_a_name():
    """`os_prio=31 cpu=0.39ms ... nid=38915 runnable` (no quoted name): a thread, not an
    unrecognized line."""
    data = read(THIRDPARTY / "jthreaddump" / "scenarios" / "class-loading-dump-0.txt")
    (dump,), warnings = parse_jvm(data)
    assert len(dump.threads) == data.count(b'\n"') + 1 == 37
    unnamed = [t for t in dump.threads if t.name == ""]
    assert len(unnamed) == 1 and unnamed[0].os_id == 38915 and unnamed[0].cpu_ms == 0.39
    assert not all_warnings([dump], warnings)


def test_thirdparty_jdk21_json_without_states():
    """JDK 21's JSON prints no state and does not flag virtual threads."""
    (dump,), warnings = parse_jvm(read(THIRDPARTY / "tda" / "intellij_dump.json"))
    assert (dump.source, dump.pid, dump.jvm) == ("Thread.dump_to_file json", 3862,
                                                 "21.0.10+7-LTS")
    assert {t.state for t in dump.threads} == {"(unknown)"}
    assert not dump.truncated and not warnings and not dump.warnings


# --- Temurin 25: Thread.dump_to_file, jstack, jhsdb; jstack -F -------------------------


def test_dump_to_file_json_lists_virtual_threads():
    raw = (FORMATS / "jdk25-vthreads.dump_to_file.json").read_bytes()
    assert detect_format(raw.decode()) == "jcmd-json"
    (dump,), warnings = parse_jvm(raw)
    assert not warnings and not dump.warnings and not dump.truncated
    doc = json.loads(raw)["threadDump"]
    listed = [t for c in doc["threadContainers"] for t in c["threads"]]
    assert len(dump.threads) == len(listed) == 34
    virtual = [t for t in dump.threads if t.virtual]
    assert len(virtual) == sum(1 for t in listed if t.get("virtual")) == 15
    assert (dump.pid, dump.jvm, dump.timestamp) == (10214, "25.0.3+9-LTS",
                                                    "2026-12-04T20:31:18.823651594Z")
    by = {t.name: t for t in dump.threads}
    # virtual threads blocked on the monitor "monitor-holder" holds, as platform threads are
    holder = by["monitor-holder"]
    assert [(lk.kind, lk.address, lk.frame) for lk in holder.locks] == [
        ("locked", "java.lang.Object@2673c0ca", 4)]
    for name in ("virtual-blocked-0", "platform-blocked-0"):
        t = by[name]
        assert t.state == "BLOCKED" and t.virtual == name.startswith("virtual")
        assert [(lk.kind, lk.address) for lk in t.locks] == [
            ("waiting to lock", "java.lang.Object@2673c0ca")]
    parked = by["virtual-parked-0"]
    assert parked.state == "WAITING" and [lk.kind for lk in parked.locks] == [
        "parking to wait for"]
    # the carrier runs the spinning virtual thread
    spinner = by["virtual-spinner"]
    assert spinner.state == "RUNNABLE" and spinner.java_id == 38
    assert by["ForkJoinPool-1-worker-1"].carrying == 38
    # unnamed virtual threads: by their executor
    summary = dump.summary()
    assert summary["pools"]["ThreadPerTaskExecutor"] == 3
    assert summary["pools"]["(unnamed virtual)"] == 1
    assert summary["format"] == "Thread.dump_to_file json"
    analyze_dumps([raw])


def test_dump_to_file_text_same_threads_as_json():
    """The text form, taken 0.6 s after the JSON: the same threads and states."""
    raw = (FORMATS / "jdk25-vthreads.dump_to_file.txt").read_bytes()
    assert detect_format(raw.decode()) == "jcmd-text"
    (text,), warnings = parse_jvm(raw)
    (js,), _ = parse_jvm((FORMATS / "jdk25-vthreads.dump_to_file.json").read_bytes())
    assert not warnings and not text.warnings and not text.truncated

    def key(d: ThreadDump) -> list[tuple[int | None, str, str, bool]]:
        return sorted((t.java_id, t.name, t.state, t.virtual) for t in d.threads
                      if t.name != "Attach Listener")

    assert key(text) == key(js)
    by = {t.name: t for t in text.threads}
    assert by["virtual-sleeper-0"].stack.frames[0] == (
        "java.base/java.lang.VirtualThread.parkNanos(VirtualThread.java:784)")
    assert [(lk.kind, lk.address, lk.frame) for lk in by["monitor-holder"].locks] == [
        ("locked", "java.lang.Object@2673c0ca", 4)]
    # a kind given by the caller ("jvm") does not stop the format from being recognized
    (again,), _ = parse_jvm(raw, kind="jvm")
    assert len(again.threads) == 34


def test_dump_to_file_text_jdk21():
    """JDK 21's text form: `#23 "name" virtual`, frames without "at", no state."""
    raw = (b"4242\n2024-01-01T00:00:00.000000Z\n21.0.2+13-58\n\n"
           b'#1 "main"\n      java.base/java.lang.Thread.sleep0(Native Method)\n'
           b"      App.main(App.java:20)\n\n"
           b'#23 "" virtual\n      java.base/java.lang.VirtualThread.park(VirtualThread.java:582)\n'
           b"      java.base/java.lang.VirtualThread.run(VirtualThread.java:309)\n\n")
    (dump,), _ = parse_jvm(raw)
    assert [(t.java_id, t.name, t.virtual, t.state, len(t.stack.frames))
            for t in dump.threads] == [(1, "main", False, "(unknown)", 2),
                                       (23, "", True, "(unknown)", 2)]
    assert (dump.pid, dump.jvm) == (4242, "21.0.2+13-58") and not dump.warnings


def test_jdk25_jstack_and_sigquit_carrier_without_state_line():
    """JDK 25's carrier: no nid, "Carrying virtual thread #38" instead of a state line."""
    for name in ("jdk25-vthreads-g1.jstack.txt", "jdk25-vthreads-g1.sigquit.log"):
        (dump,), warnings = parse_jvm((FORMATS / name).read_bytes())
        assert not all_warnings([dump], warnings), name
        assert len(dump.threads) == 30
        carrier = next(t for t in dump.threads if t.carrying is not None)
        assert (carrier.name, carrier.state, carrier.carrying) == (
            "ForkJoinPool-1-worker-2", "RUNNABLE", 42)
        assert sum(t.state == VM_STATE for t in dump.threads) == 7  # VM and GC threads


def test_jhsdb_jstack():
    """`jhsdb jstack --locks` (the serviceability agent, JDK 9+): frames as
    ` - x.y() @bci=..`, headers without os_prio, no JNI line (not a truncation)."""
    raw = (FORMATS / "jdk25-vthreads.jhsdb.txt").read_bytes()
    (dump,), warnings = parse_jvm(raw)
    assert not all_warnings([dump], warnings) and not dump.truncated
    assert (dump.source, dump.jvm) == ("jhsdb jstack", "25.0.3+9-LTS")
    assert len(dump.threads) == len(HEADERS.findall(raw.decode())) == 18
    fin = next(t for t in dump.threads if t.name == "Finalizer")
    assert fin.state == "WAITING" and fin.stack.frames[0] == (
        "java.lang.Object.wait0(long) @bci=0 (Interpreted frame)")
    assert [lk.kind for lk in fin.locks] == ["waiting on", "locked"]


def test_jstack_F_serviceability_agent_handmade():
    """JDK 8's jstack -F: `Thread 4291: (state = BLOCKED)`, no names, SA states."""
    raw = (FORMATS / "jdk8-jstack-F_handmade.txt").read_bytes()
    assert detect_format(raw.decode()) == "jstack-F"
    (dump,), warnings = parse_jvm(raw)
    assert not all_warnings([dump], warnings) and not dump.truncated
    assert (dump.source, dump.jvm, dump.deadlock_count) == ("jstack -F", "25.402-b06", 1)
    assert [e.thread for e in dump.deadlocks[0].edges] == ["transfer-2", "transfer-1"]
    by = {t.os_id: t for t in dump.threads}
    assert len(by) == 9 and by[4291].name == "Thread 4291"
    assert by[4291].stack.frames[0] == (
        "Transfer.move(java.lang.Object, java.lang.Object) @bci=14, line=31 (Interpreted frame)")
    # SA's BLOCKED is any thread blocked in the VM: the top frame says which
    assert [(by[i].state, by[i].detail) for i in (4291, 4289, 4288, 4250, 4260)] == [
        ("BLOCKED", ""), ("TIMED_WAITING", "(sleeping)"), ("WAITING", "(parking)"),
        ("WAITING", "(on object monitor)"), ("RUNNABLE", "(in_native)")]
    a = analyze_dumps([raw])
    assert a.kind == "jvm" and a.dumps[0]["threads"] == 9


# --- dumps inside container logs ---------------------------------------------------------

APP = [
    "2026-12-04 20:12:00.981  INFO 1 --- [nio-8080-exec-3] c.e.shop.OrderController : order 1234 ok",
    "2026-12-04 20:12:01.002  WARN 1 --- [     scheduler-1] c.e.shop.Cache : refresh took 5012 ms",
    '{"level":"INFO","logger":"c.e.Health","message":"up"}',
]


def sigquit_dumps(out: bytes) -> list[str]:
    """The dumps in a JVM's stdout after SIGQUIT, each from its timestamp line to the
    end of its Heap summary."""
    text = out.decode()
    starts = [m.start() for m in re.finditer(r"(?m)^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\nFull thread", text)]
    assert starts
    end = text.find("\nHeap\n", starts[-1])
    stop = text.find("\n\n", end + 1)
    ends = [*starts[1:], stop if stop > 0 else len(text)]
    return [text[a:b] for a, b in zip(starts, ends, strict=True)]


def container_log(dump: str, stamps: list[str], interleave: bool) -> list[str]:
    """Application lines, then the dump once per timestamp with application lines
    between the dumps, and (interleave) between its threads and inside one stack."""
    lines = [*APP]
    for stamp in stamps:
        body = dump.split("\n")
        body[0] = stamp  # the dump's own "2026-12-04 20:12:01" line
        if interleave:
            threads = [i for i, ln in enumerate(body) if ln.startswith('"')]
            frames = [i for i, ln in enumerate(body) if ln.startswith("\tat ")]
            spots = {threads[1] + 1, threads[3] - 1, threads[-2], frames[len(frames) // 2]}
            for i in sorted(spots, reverse=True):  # after a header, between threads, frames
                body.insert(i, APP[1])
        lines += body + APP
    return lines


PREFIXES = {
    "docker --timestamps": lambda i: f"2026-12-04T20:12:{i % 60:02d}.{i:09d}Z ",
    "kubectl --prefix": lambda i: "[pod/shop-7d9f8c6b5-x2kqz/app] ",
    "kubectl --prefix --timestamps":
        lambda i: f"[pod/shop-7d9f8c6b5-x2kqz/app] 2026-12-04T20:12:{i % 60:02d}.{i:09d}Z ",
    "none": lambda i: "",
}


def check_stream(dump: str, prefix: str, interleave: bool) -> None:
    (base,), _ = parse_jvm(dump.encode())
    stamps = ["2026-12-04 20:12:01", "2026-12-04 20:13:01", "2026-12-04 20:14:01"]
    lines = container_log(dump, stamps, interleave)
    raw = "\n".join(PREFIXES[prefix](i) + ln for i, ln in enumerate(lines)).encode()
    dumps, warnings = parse_jvm(raw)
    assert [d.timestamp for d in dumps] == stamps, (prefix, warnings)
    for d in dumps:
        assert len(d.threads) == len(base.threads), prefix
        assert [t.name for t in d.threads] == [t.name for t in base.threads]
        assert [t.state for t in d.threads] == [t.state for t in base.threads]
        assert d.summary()["groups"] == base.summary()["groups"]
        assert not d.truncated
        # Application lines are never taken for part of a thread: those before, between
        # and after the dumps are cut off, one inside a thread's lines is dropped, one
        # that starts a block of lines (after a blank line) is counted as unrecognized.
        assert unrecognized(d.warnings) == (1 if interleave else 0), (prefix, d.warnings)
    assert f"{len(stamps)} thread dumps found in one input" in warnings


@pytest.mark.parametrize("prefix", list(PREFIXES))
@pytest.mark.parametrize("interleave", [False, True], ids=["between-dumps", "interleaved"])
def test_jdk25_sigquit_in_container_logs(prefix, interleave):
    """The committed JDK 25 SIGQUIT output (its stdout: READY, the dump, the Heap)."""
    out = (FORMATS / "jdk25-vthreads-g1.sigquit.log").read_bytes()
    (dump,) = sigquit_dumps(out)
    check_stream(dump, prefix, interleave)


@pytest.mark.parametrize("prefix", list(PREFIXES))
def test_live_jdk17_sigquit_in_container_logs(jvm_dumps, prefix):
    """A SIGQUIT dump taken now from a running JDK 17 (LockConvoy), in a log stream."""
    (dump,) = sigquit_dumps(jvm_dumps["LockConvoy.sigquit"][0])
    check_stream(dump, prefix, interleave=True)
    lines = container_log(dump, ["2026-12-04 20:12:01"], interleave=False)
    raw = "\n".join(PREFIXES[prefix](i) + ln for i, ln in enumerate(lines)).encode()
    base = analyze_dumps([dump.encode()])
    a = analyze_dumps([raw])
    assert base.findings
    assert [f.title for f in a.findings] == [f.title for f in base.findings]


# --- hostsnap analyze ---------------------------------------------------------------------


def test_cli_analyze_reads_each_format():
    """What a user sees: each format named, virtual threads counted, jstack -F's
    deadlock found (exit 1: a critical finding)."""
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """test root, so `analyze` is a subcommand as in hostsnap"""

    register(app)
    env = {"COLUMNS": "200"}
    runner = CliRunner()
    for name, head in (("jdk25-vthreads.dump_to_file.json",
                        "dump 1: Thread.dump_to_file json pid 10214, 34 threads (15 virtual)"),
                       ("jdk25-vthreads.dump_to_file.txt",
                        "dump 1: Thread.dump_to_file text pid 10214, 34 threads (15 virtual)"),
                       ("jdk25-vthreads.jhsdb.txt", "dump 1: jhsdb jstack, 18 threads")):
        r = runner.invoke(app, ["analyze", str(FORMATS / name)], env=env)
        assert r.exit_code == 0 and r.output.startswith(head), r.output
        assert "warning" not in r.output
    r = runner.invoke(app, ["analyze", str(FORMATS / "jdk8-jstack-F_handmade.txt")], env=env)
    assert r.exit_code == 1, r.output
    assert r.output.startswith("dump 1: jstack -F, 9 threads")
    assert 'JVM_DEADLOCK  Java-level deadlock of 2 threads: "transfer-2" and "transfer-1"' in (
        r.output)


def test_docker_json_file_log():
    """The container's log file on the host (docker's json-file driver): one JSON record
    per line, a long line split over two records, the last record cut off."""
    out = (FORMATS / "jdk25-vthreads-g1.sigquit.log").read_bytes()
    (dump,) = sigquit_dumps(out)
    (base,), _ = parse_jvm(dump.encode())
    stamps = ["2026-12-04 20:12:01", "2026-12-04 20:13:01"]
    records = []
    for i, line in enumerate(container_log(dump, stamps, interleave=False)):
        t = f"2026-12-04T20:12:{i % 60:02d}.{i:09d}Z"
        parts = [line[:40], line[40:]] if len(line) > 80 else [line]  # split at 16 KiB
        for k, part in enumerate(parts):
            end = "\n" if k == len(parts) - 1 else ""
            records.append(json.dumps({"log": part + end, "stream": "stdout", "time": t},
                                      separators=(",", ":")))  # as docker writes them
    raw = ("\n".join(records) + '\n{"log":"cut off').encode()
    dumps, warnings = parse_jvm(raw)
    assert "read a docker json-file log" in warnings
    assert [d.timestamp for d in dumps] == stamps
    for d in dumps:
        assert [t.name for t in d.threads] == [t.name for t in base.threads]
        assert d.summary()["groups"] == base.summary()["groups"] and not d.warnings


def test_dump_to_file_cut_short_or_damaged():
    """A Thread.dump_to_file copied while being written, or mangled: a warning, a
    partial dump for the text form, never an exception."""
    js = (FORMATS / "jdk25-vthreads.dump_to_file.json").read_bytes()
    for cut in (len(js) // 3, len(js) // 2, len(js) - 5):
        (d,), w = parse_jvm(js[:cut])
        assert d.threads == [] and any("not valid JSON" in x for x in d.warnings)
    (d,), _ = parse_jvm(b'{"threadDump": {"threadContainers": [{"threads": [{"tid": "x", '
                        b'"name": 5, "stack": [null, 3], "monitorsOwned": [{"locks": [1]}],'
                        b' "parkBlocker": "p", "carrier": {}}, 7]}, "y"]}}')
    assert [(t.java_id, t.name, t.stack.frames) for t in d.threads] == [(None, "5", ("3",))]
    txt = (FORMATS / "jdk25-vthreads.dump_to_file.txt").read_bytes()
    (d,), w = parse_jvm(txt[: len(txt) // 2])
    assert 10 < len(d.threads) < 34 and not any("parser error" in x for x in w)
