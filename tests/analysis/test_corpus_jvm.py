"""The JVM rules on the regression corpus: real dumps of the workloads on JDK 17 and
Temurin 25 (jstack -l, jcmd Thread.print -l, SIGQUIT logs, growth series), committed with
their expected findings in tests/analysis/corpus/jvm/manifest.json (see make_jvm_corpus.py).

Every entry is analyzed as given and, for a series, in reverse order too: the findings
and their numbers must not depend on the order of the files. Then one test per verdict
that used to be wrong (issue 18), on the same real dumps.
"""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path
from typing import Any

import pytest

from collectors.analysis.dumps import DumpAnalysis, analyze_dumps
from collectors.analysis.findings import Finding, Severity
from collectors.analysis.thresholds import ThreadDumpThresholds, Thresholds

CORPUS = Path(__file__).parent / "corpus" / "jvm"
ENTRIES: list[dict[str, Any]] = json.loads((CORPUS / "manifest.json").read_text())["entries"]
BY_NAME = {e["name"]: e for e in ENTRIES}


def load(*files: str) -> list[bytes]:
    return [gzip.decompress((CORPUS / f).read_bytes()) for f in files]


def analyze(entry: dict[str, Any], reverse: bool = False) -> DumpAnalysis:
    data = load(*entry["files"])
    t = Thresholds(threads=ThreadDumpThresholds(**entry.get("thresholds", {})))
    return analyze_dumps(data[::-1] if reverse else data, t)


def _matches(f: Finding, want: dict[str, Any]) -> bool:
    if f.rule != want["rule"] or f.severity != want["severity"]:
        return False
    if want.get("title_contains", "") not in f.title:
        return False
    for k, v in want["data"].items():
        if k == "subject":
            ok = f.subject == v
        elif k.endswith("_min"):
            ok = f.data[k[:-4]] >= v
        else:
            ok = f.data.get(k) == v
        if not ok:
            return False
    return True


def check(entry: dict[str, Any], a: DumpAnalysis) -> None:
    got = [f"{f.rule} {f.title}" for f in a.findings]
    assert sorted(f.rule for f in a.findings) == sorted(w["rule"] for w in entry["expect"]), got
    left = list(a.findings)
    for want in entry["expect"]:
        hit = next((f for f in left if _matches(f, want)), None)
        assert hit is not None, (want, got, [f.data for f in a.findings if f.rule == want["rule"]])
        left.remove(hit)
    for rule in entry.get("absent", []):
        assert rule not in {f.rule for f in a.findings}
    for text in entry.get("warnings_contain", []):
        assert any(text in w for w in a.warnings), a.warnings
    if entry.get("dumps") == 1:
        assert any("are one moment of one process" in w for w in a.warnings), a.warnings


def test_manifest_covers_both_jdks_forms_and_rules():
    jdks = {e["jdk"] for e in ENTRIES}
    assert {"17", "25"} <= jdks
    forms = {f for e in ENTRIES for f in e["form"].split(", ")}
    assert {"jstack", "jcmd", "sigquit"} <= forms
    rules = {w["rule"] for e in ENTRIES for w in e["expect"]}
    assert rules == {"HTTP_POOL_EXHAUSTED", "JVM_DEADLOCK", "LOCK_CONVOY", "IDENTICAL_STACK",
                     "HTTPCLIENT_EVICTOR_LEAK", "THREAD_GROWTH", "EXECUTOR_LEAK", "CPU_HOT",
                     "STUCK_THREAD"}
    for e in ENTRIES:
        assert all((CORPUS / f).is_file() for f in e["files"]), e["name"]


@pytest.mark.parametrize("entry", ENTRIES, ids=[e["name"] for e in ENTRIES])
def test_corpus_entry(entry):
    check(entry, analyze(entry))
    if entry.get("series"):
        check(entry, analyze(entry, reverse=True))


# --- one test per verdict of issue 18, on the corpus ------------------------------------

def only(a: DumpAnalysis, rule: str) -> Finding:
    found = [f for f in a.findings if f.rule == rule]
    assert len(found) == 1, [f.title for f in a.findings]
    return found[0]


@pytest.mark.parametrize("name", ["jdk17/hc31-pool.jcmd", "jdk17/hc31-pool.jstack",
                                  "jdk25/hc31-pool.jcmd", "jdk25/hc31-pool.jstack"])
def test_hc31_exhausted_pool_is_one_finding_with_all_its_waiters(name):
    """198 threads wait for one HC 3.1 pool; 75 of them print their wait() as `waiting on
    <no object reference available>` (a compiled frame). They were a second finding, "75
    threads ... (per-request futures)", with no monitor."""
    entry = BY_NAME[name]
    text = load(*entry["files"])[0].decode()
    assert "waiting on <no object reference available>" in text  # what split it
    f = only(analyze(entry), "HTTP_POOL_EXHAUSTED")
    monitor = entry["expect"][0]["data"]["monitor"]
    assert f.severity == Severity.CRITICAL
    assert f.title == (f"198 threads wait for a connection from one commons-httpclient 3.1 "
                       f"pool (monitor <{monitor}>); 2 thread(s) hold its connections")
    assert (f.data["waiters"], f.data["holders"], f.data["monitor"]) == (198, 2, monitor)


def test_hc4_pool_wait_is_a_condition_not_a_monitor():
    f = only(analyze(BY_NAME["jdk17/hc4-pool.jcmd"]), "HTTP_POOL_EXHAUSTED")
    assert re.search(r"HttpClient 4\.x pool \(condition <0x[0-9a-f]+>\)", f.title), f.title
    assert "monitor" not in f.title


@pytest.mark.parametrize("name", ["jdk17/evictor.series.jstack", "jdk25/evictor.series.jstack",
                                  "jdk17/evictor.series.jstack+jcmd"])
def test_growth_series_given_in_reverse_keeps_its_growth(name):
    entry = BY_NAME[name]
    forward, backward = analyze(entry), analyze(entry, reverse=True)
    for a in (forward, backward):
        growth = only(a, "THREAD_GROWTH")
        leak = only(a, "HTTPCLIENT_EVICTOR_LEAK")
        assert growth.data["delta"] > 300 and 10 < growth.data["seconds"] < 20
        assert leak.data["growth"] == entry["expect"][0]["data"]["growth"]
        assert f"+{leak.data['growth']} since the first dump" in leak.title.replace(" ", "")\
            or f"+{leak.data['growth']:,}".replace(",", " ") in leak.title
    assert [f.title for f in forward.findings] == [f.title for f in backward.findings]
    assert any("in the order of the time they carry: dump 2, dump 1" in w
               for w in backward.warnings)


def test_dumps_of_two_processes_warn_and_never_make_growth():
    """Two JVMs (17 and 25, two pids, two start times): no THREAD_GROWTH of +400 threads
    between them, a warning naming both, each analyzed alone."""
    entry = BY_NAME["mixed-processes"]
    for reverse in (False, True):
        a = analyze(entry, reverse)
        assert sorted(f.rule for f in a.findings) == ["HTTPCLIENT_EVICTOR_LEAK"] * 2
        assert all("since the first dump" not in f.title for f in a.findings)
        w = next(w for w in a.warnings if "different processes" in w)
        assert "17.0.15+6" in w and "25.0.3+9-LTS" in w
        # numbered by time whatever the order given: the JDK 17 run came first
        assert w.index("17.0.15") < w.index("25.0.3")


def test_forms_of_one_moment_are_one_dump():
    """jstack -l and jcmd Thread.print -l of one JVM run back to back: one moment, not a
    series (no "+12 since the first dump, 1 846/min")."""
    for jdk in ("17", "25"):
        entry = BY_NAME[f"jdk{jdk}/evictor.one-moment"]
        for reverse in (False, True):
            a = analyze(entry, reverse)
            leak = only(a, "HTTPCLIENT_EVICTOR_LEAK")
            assert "since the first dump" not in leak.title
            assert "growth" not in leak.data
            assert any("are one moment of one process" in w for w in a.warnings)


@pytest.mark.parametrize("jdk", ["17", "25"])
def test_cpu_hot_judges_a_young_thread_over_its_own_life(jdk):
    """A thread seconds old that spun all its life: one dump is enough. The rule and its
    bar are stated in the finding."""
    entry = BY_NAME[f"jdk{jdk}/young-spinner.jcmd"]
    text = load(*entry["files"])[0].decode()
    cpu, elapsed = map(float, re.search(
        r'"report-builder" [^\n]* cpu=([\d.]+)ms elapsed=([\d.]+)s', text).groups())
    assert 5 < elapsed < 30  # young: the old 60 s bar never judged it
    assert cpu / (elapsed * 1000) > 0.85 and "thresholds" not in entry  # the default bar
    f = only(analyze(entry), "CPU_HOT")
    assert f.subject == "report-builder"
    assert f.data["threads"][0]["over"] == "lifetime"
    assert f.data["threads"][0]["share"] == round(cpu / (elapsed * 1000), 3)
    assert "since the thread started" in f.title
    assert "over its life for a thread seen in one dump once it is 5 s old" in f.hint


@pytest.mark.parametrize("jdk", ["17", "25"])
def test_recursive_stack_is_one_identical_stack_finding(jdk):
    """440 threads in one recursive walk, caught at 8 depths: one finding with all of
    them (was: 5 findings of 55, 3 more depths silently dropped)."""
    f = only(analyze(BY_NAME[f"jdk{jdk}/recursion.jcmd"]), "IDENTICAL_STACK")
    assert f.data["threads"] == 440 and f.data["variants"] == 8
    assert f.title.startswith("440 threads share one stack at Recursion.walk(")
    assert "8 stacks that differ only in recursion depth, folded" in f.title


def _handmade(threads: list[str]) -> bytes:
    """A JDK 17 jcmd dump around hand-written thread blocks (ids and nids made up)."""
    head = ("4242:\n2026-12-04 20:00:00\nFull thread dump OpenJDK 64-Bit Server VM "
            "(17.0.15+6-Debian-1deb12u1 mixed mode, sharing):\n\n")
    return (head + "\n".join(threads) + "\nJNI global refs: 9, weak refs: 0\n\n").encode()


def _thread(n: int, name: str, state: str, lines: list[str], owns: list[str] = ()) -> str:
    body = "".join(f"\t{ln}\n" for ln in lines)
    own = "".join(f"\t- <{a}> (a java.util.concurrent.locks.ReentrantLock$NonfairSync)\n"
                  for a in owns) or "\t- None\n"
    return (f'"{name}" #{n} daemon prio=5 os_prio=0 cpu=1.00ms elapsed=50.00s '
            f"tid=0x{n:016x} nid=0x{n:x} waiting on condition  [0x0]\n"
            f"   java.lang.Thread.State: {state}\n{body}\n"
            f"   Locked ownable synchronizers:\n{own}")


def test_identical_stack_findings_biggest_first_with_the_rest_counted():
    """Seven piles (60 to 120 threads): five findings, biggest first as shown (not in
    the order of their stack digests), the last one counting the two not shown."""
    threads, n = [], 100
    for k, size in enumerate((60, 70, 80, 90, 100, 110, 120)):
        frames = ["at jdk.internal.misc.Unsafe.park(java.base@17.0.15/Native Method)",
                  "at java.util.concurrent.locks.LockSupport.park(java.base@17.0.15/"
                  "LockSupport.java:211)",
                  f"at com.acme.Stage{k}.await(Stage{k}.java:40)",
                  "at java.lang.Thread.run(java.base@17.0.15/Thread.java:840)"]
        for _ in range(size):
            n += 1
            threads.append(_thread(n, f"stage{k}-{n}", "WAITING (parking)", frames))
    a = analyze_dumps([_handmade(threads)])
    piles = [f for f in a.findings if f.rule == "IDENTICAL_STACK"]
    assert [f.data["threads"] for f in piles] == [120, 110, 100, 90, 80]
    assert [f.data["not_shown"] for f in piles] == [2] * 5
    assert piles[-1].evidence[-1].text == "2 more group(s) of at least 50 threads not shown"


def test_handmade_three_thread_cycle_of_monitors_and_a_reentrantlock():
    """A cycle through a monitor, a ReentrantLock and a monitor, no deadlock section; a
    fourth thread queued behind it is not part of it; a wait() is not an edge."""
    at = "at com.acme.Ledger.post(Ledger.java:7)"
    threads = [
        _thread(1, "posting-1", "BLOCKED (on object monitor)", [
            at, "- waiting to lock <0x00000000c0000002> (a com.acme.Account)",
            at, "- locked <0x00000000c0000001> (a com.acme.Account)"]),
        _thread(2, "posting-2", "WAITING (parking)", [
            "at jdk.internal.misc.Unsafe.park(java.base@17.0.15/Native Method)",
            "- parking to wait for  <0x00000000c0000003> (a java.util.concurrent.locks."
            "ReentrantLock$NonfairSync)", at,
            "- locked <0x00000000c0000002> (a com.acme.Account)"]),
        _thread(3, "audit", "BLOCKED (on object monitor)", [
            at, "- waiting to lock <0x00000000c0000001> (a com.acme.Account)"],
            owns=["0x00000000c0000003"]),
        _thread(4, "report", "BLOCKED (on object monitor)", [
            at, "- waiting to lock <0x00000000c0000001> (a com.acme.Account)"]),
        _thread(5, "notifier", "WAITING (on object monitor)", [
            "at java.lang.Object.wait(java.base@17.0.15/Native Method)",
            "- waiting on <0x00000000c0000009> (a java.lang.Object)", at,
            "- locked <0x00000000c0000009> (a java.lang.Object)"]),
    ]
    a = analyze_dumps([_handmade(threads)])
    f = only(a, "JVM_DEADLOCK")
    assert f.data["threads"] == ["posting-1", "posting-2", "audit"]
    assert f.data["jvm_reported"] is False
    assert f.title == ('Java-level deadlock of 3 threads: "posting-1", "posting-2", "audit" '
                       "(com.acme.Account, java.util.concurrent.locks.ReentrantLock$NonfairSync)"
                       "; the JVM did not report it, the lock graph has the cycle")
    assert f.evidence[0].rows == [
        ["posting-1", "monitor <0x00000000c0000002> (a com.acme.Account)", "posting-2"],
        ["posting-2", "ownable synchronizer <0x00000000c0000003> (a java.util.concurrent."
                      "locks.ReentrantLock$NonfairSync)", "audit"],
        ["audit", "monitor <0x00000000c0000001> (a com.acme.Account)", "posting-1"]]


def test_wrapped_hint_lines_keep_their_indent():
    from rich.console import Console

    from bot.render.terminal import finding_renderable

    f = only(analyze(BY_NAME["jdk17/hc31-pool.jcmd"]), "HTTP_POOL_EXHAUSTED")
    console = Console(width=70, record=True, color_system=None)
    console.print(finding_renderable(f, evidence=False))
    lines = console.export_text().splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("         → "))
    hint = lines[start:]
    assert len(hint) > 3
    assert all(ln.startswith(" " * 11) and ln[11] != " " for ln in hint[1:] if ln.strip())
    assert " ".join(ln.strip() for ln in hint).removeprefix("→ ") == f.hint


@pytest.mark.parametrize("jdk", ["17", "25"])
def test_deadlock_the_jvm_did_not_report_is_found_in_the_lock_graph(jdk):
    """The real deadlock dump without its "Found one Java-level deadlock" section (what a
    JVM prints when its detector does not see the cycle): both cycles, from the graph of
    held and awaited monitors and ownable synchronizers."""
    a = analyze(BY_NAME[f"jdk{jdk}/deadlock.unreported.jcmd"])
    assert sorted(f.rule for f in a.findings) == ["JVM_DEADLOCK", "JVM_DEADLOCK"]
    by = {frozenset(f.data["threads"]): f for f in a.findings}
    mon = by[frozenset({"transfer-1", "transfer-2"})]
    rl = by[frozenset({"reserve-1", "reserve-2"})]
    assert all(f.severity == Severity.CRITICAL and not f.data["jvm_reported"]
               for f in (mon, rl))
    assert "the JVM did not report it" in mon.title
    assert "(java.lang.Object)" in mon.title
    assert "ReentrantLock$NonfairSync" in rl.title
    rows = mon.evidence[0].rows
    assert {r[0]: r[2] for r in rows} == {"transfer-1": "transfer-2", "transfer-2": "transfer-1"}


@pytest.mark.parametrize("name", ["jdk17/deadlock.jcmd", "jdk25/deadlock.jstack",
                                  "jdk25/deadlock.sigquit"])
def test_deadlock_the_jvm_reported_is_one_finding_with_clean_rows(name):
    """Found by the JVM and by the lock graph: one finding each. The JVM's own line
    `waiting for ownable synchronizer 0x..., (a ...)` is not copied with its comma."""
    a = analyze(BY_NAME[name])
    assert sorted(f.rule for f in a.findings) == ["JVM_DEADLOCK", "JVM_DEADLOCK"]
    for f in a.findings:
        assert f.data["jvm_reported"] is True
        assert "did not report" not in f.title
        for thread, waits, held in f.evidence[0].rows:
            assert re.fullmatch(r"(monitor|ownable synchronizer) <0x[0-9a-f]+> \(a [\w.$]+\)",
                                waits), waits
            assert held in f.data["threads"] and held != thread


def test_hostsnap_analyze_shows_the_process_warning_and_no_growth(tmp_path):
    """`hostsnap analyze` on a JDK 17 dump and a JDK 25 dump (in the wrong order): the
    warning is printed, no THREAD_GROWTH, each JVM's evictor leak on its own."""
    import typer
    from typer.testing import CliRunner

    from bot.cli_analyze import register

    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """test root, so `analyze` is a subcommand as in hostsnap"""

    register(app)
    entry = BY_NAME["mixed-processes"]
    paths = []
    for i, data in enumerate(load(*entry["files"])[::-1], 1):
        paths.append(tmp_path / f"dump{i}.txt")
        paths[-1].write_bytes(data)
    r = CliRunner().invoke(app, ["analyze", *map(str, paths)], env={"COLUMNS": "400"})
    assert r.exit_code == 1, r.output  # the evictor leaks are critical
    assert "warning: the dumps come from 2 different processes, analyzed separately (no " \
           "growth computed across them)" in r.output
    assert "THREAD_GROWTH" not in r.output
    assert r.output.count("HTTPCLIENT_EVICTOR_LEAK") == 2


def test_virtual_thread_deadlock_jdk25_the_jvm_does_not_report():
    """JDK 25, two virtual threads deadlocked on two monitors: jcmd Thread.print lists
    neither (they are unmounted) and reports nothing; Thread.dump_to_file's JSON has
    their blockedOn/monitorsOwned, and the lock graph has the cycle."""
    (jcmd,) = load(*BY_NAME["jdk25/virtual-deadlock.jcmd"]["files"])
    assert b"vtransfer" not in jcmd and b"deadlock" not in jcmd
    assert analyze_dumps([jcmd]).findings == []
    f = only(analyze(BY_NAME["jdk25/virtual-deadlock.json"]), "JVM_DEADLOCK")
    assert f.data["threads"] == ["vtransfer-1", "vtransfer-2"]
    assert f.title.endswith("; the JVM did not report it, the lock graph has the cycle")


def _jdk8(stamp: str, workers: int) -> bytes:
    """A JDK 8 jstack dump (no cpu=/elapsed=: only the header's timestamp tells time)."""
    blocks = [f'"worker-{i}" #{i + 10} prio=5 os_prio=0 tid=0x{i:016x} nid=0x{i + 100:x} '
              f"waiting on condition [0x0]\n   java.lang.Thread.State: WAITING (parking)\n"
              "\tat sun.misc.Unsafe.park(Native Method)\n"
              f"\tat com.acme.Job{i}.run(Job.java:{i})\n" for i in range(workers)]
    head = f"{stamp}\nFull thread dump Java HotSpot(TM) 64-Bit Server VM (25.402-b06 mixed mode):\n\n"
    return (head if stamp else head.split("\n", 1)[1]).encode() + "\n".join(blocks).encode() \
        + b"\nJNI global references: 12\n"


def test_jdk8_series_ordered_by_the_header_timestamp():
    early, late = _jdk8("2026-12-04 20:00:00", 10), _jdk8("2026-12-04 20:00:30", 60)
    for given in ([early, late], [late, early]):
        a = analyze_dumps(given)
        growth = only(a, "THREAD_GROWTH")
        assert (growth.data["before"], growth.data["after"], growth.data["seconds"]) == (
            10, 60, 30.0)
    # without any time in one of them: the order given, and a warning that says so
    a = analyze_dumps([late, _jdk8("", 10)])
    assert "THREAD_GROWTH" not in {f.rule for f in a.findings}
    assert any("no time in the dump" in w and "kept in the order given" in w
               for w in a.warnings), a.warnings


def test_deadlock_in_a_cut_dump_does_not_claim_the_jvm_was_silent():
    (data,) = load(*BY_NAME["jdk17/deadlock.unreported.jcmd"]["files"])
    cut = data[: data.index(b"JNI global refs")]
    a = analyze_dumps([cut])
    assert sorted(f.rule for f in a.findings) == ["JVM_DEADLOCK", "JVM_DEADLOCK"]
    for f in a.findings:
        assert "did not report" not in f.title
        assert f.title.endswith("; found in the lock graph (the dump is cut: the JVM's report "
                                "may be lost)")
