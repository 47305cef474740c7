"""Format variants and damaged input: JDK 8/11/21 headers (hand-written), CRLF, log
prefixes, truncation, bad UTF-8, docker's multiplexed log stream."""

from __future__ import annotations

from pathlib import Path

from collectors.analysis.dumps import analyze_dumps, detect_format, parse_dump
from collectors.analysis.jstack import parse_thread_dump
from collectors.analysis.pools import executor_pool_id, fold_name

DATA = Path(__file__).parent / "data"


def findings(a) -> list[tuple[str, str]]:
    return sorted((f.rule, f.title) for f in a.findings)


def test_fold_names():
    assert fold_name("pool-12-thread-3") == "pool-N-thread-N"
    assert fold_name("http-nio-8080-exec-17") == "http-nio-8080-exec-N"
    assert fold_name("https-jsse-nio-8443-exec-2") == "https-jsse-nio-8443-exec-N"
    assert fold_name("C2 CompilerThread0") == "C2 CompilerThreadN"
    assert fold_name("GC Thread#3") == "GC Thread#N"
    assert fold_name("Connection evictor") == "Connection evictor"
    assert executor_pool_id("pool-5012-thread-1") == 5012
    assert executor_pool_id("my-pool-1-thread-1") is None


def test_jdk8_header_and_deadlock_handmade():
    d = parse_thread_dump((DATA / "jdk8_handmade.txt").read_text())
    w1 = next(t for t in d.threads if t.name == "worker-1")
    assert (w1.java_id, w1.os_id, w1.cpu_ms, w1.state) == (10, 0x1B1E, None, "BLOCKED")
    assert w1.status == "waiting for monitor entry"
    assert [(lk.kind, lk.address) for lk in w1.locks] == [
        ("waiting to lock", "0x000000076ab62218"), ("locked", "0x000000076ab62208")]
    assert d.jni_refs == "JNI global references: 6" and not d.truncated
    assert [t.pool for t in d.threads if t.state == "(vm)"] == [
        "VM Thread", "GC task thread#N (ParallelGC)", "GC task thread#N (ParallelGC)"]
    a = analyze_dumps([(DATA / "jdk8_handmade.txt").read_bytes()])
    assert findings(a) == [("JVM_DEADLOCK", 'Java-level deadlock of 2 threads: "worker-2" and '
                                           '"worker-1" (java.lang.Object)')]


def test_jdk11_cpu_hot_over_lifetime_handmade():
    d = parse_thread_dump((DATA / "jdk11_handmade.txt").read_text())
    assert d.smr_length == 3
    hot = next(t for t in d.threads if t.name == "report-builder")
    assert (hot.cpu_ms, hot.elapsed_s, hot.os_id) == (118210.33, 120.01, 0x6B2)
    a = analyze_dumps([(DATA / "jdk11_handmade.txt").read_bytes()])
    assert [f.rule for f in a.findings] == ["CPU_HOT"]
    assert a.findings[0].title == ('1 thread(s) burn a CPU core since the thread started: '
                                   '"report-builder" 99% (118 210 ms CPU in 120.0 s)')


def test_jdk21_osid_decimal_nid_and_carriers_handmade():
    data = (DATA / "jdk21_handmade.txt").read_bytes()
    assert detect_format(data.decode()) == "jcmd"
    d = parse_thread_dump(data.decode())
    assert d.pid == 4242 and d.jvm.startswith("OpenJDK 64-Bit Server VM (21.0.2")
    main = d.threads[0]
    assert (main.name, main.java_id, main.os_id) == ("main", 1, 4243)
    carrier = d.threads[1]
    assert carrier.carrying == 22 and carrier.os_id == 4260 and carrier.daemon
    assert carrier.pool == "ForkJoinPool-N-worker-N"
    assert analyze_dumps([data]).findings == []


def test_httpclient5_pool_waiters_handmade():
    text = (DATA / "httpclient5_handmade.txt").read_text()
    head, worker, rest = text.partition('"worker-1"')[0], '"worker-1"' + text.split(
        '"worker-1"')[1].split('"worker-2"')[0], '"worker-2"' + text.split('"worker-2"')[1]
    waiters = "".join(worker.replace('"worker-1" #20', f'"worker-{i}" #{i + 100}')
                      for i in range(3, 15))
    a = analyze_dumps([(head + waiters + rest).encode()])
    f = [f for f in a.findings if f.rule == "HTTP_POOL_EXHAUSTED"]
    assert len(f) == 1
    assert f[0].data["library"] == "HttpClient 5.x"
    assert (f[0].data["waiters"], f[0].data["holder_threads"]) == (12, ["worker-2"])


def test_crlf_and_log_prefixes_give_the_same_findings(jvm_dumps, go_dumps):
    for raw in (jvm_dumps["Http31Pool"][0], go_dumps["mutex"][0]):
        base = findings(analyze_dumps([raw]))
        assert base
        lines = raw.decode().split("\n")
        variants = {
            "crlf": raw.replace(b"\n", b"\r\n"),
            "cri": "\n".join(f"2024-01-01T00:00:{i % 60:02d}.123456789Z stdout F {ln}"
                             for i, ln in enumerate(lines)).encode(),
            "docker": "\n".join(f"2024-01-01T00:00:{i % 60:02d}.{i:09d}Z {ln}"
                                for i, ln in enumerate(lines)).encode(),
            "syslog": "\n".join(f"Jan  1 00:00:{i % 60:02d} web-03 app[4242]: {ln}"
                                for i, ln in enumerate(lines)).encode(),
        }
        for name, data in variants.items():
            a = analyze_dumps([data])
            assert findings(a) == base, name


def test_cri_partial_lines_are_joined():
    text = (DATA / "jdk8_handmade.txt").read_text()
    out = []
    for ln in text.split("\n"):
        if len(ln) > 40:  # the runtime split long lines into P records
            out += [f"2024-01-01T00:00:00Z stdout P {ln[:30]}",
                    f"2024-01-01T00:00:00Z stdout F {ln[30:]}"]
        else:
            out.append(f"2024-01-01T00:00:00Z stdout F {ln}")
    a = analyze_dumps(["\n".join(out).encode()])
    assert [f.rule for f in a.findings] == ["JVM_DEADLOCK"]
    assert a.dumps[0]["threads"] == 7


def test_docker_multiplexed_stream():
    raw = (DATA / "jdk8_handmade.txt").read_bytes()
    frames = b"".join(b"\x01\x00\x00\x00" + len(c).to_bytes(4, "big") + c
                      for c in (raw[i : i + 500] for i in range(0, len(raw), 500)))
    a = analyze_dumps([frames])
    assert [f.rule for f in a.findings] == ["JVM_DEADLOCK"]
    assert "demultiplexed a docker log stream" in a.warnings


def test_truncated_dump_gives_partial_result_and_warning(jvm_dumps, go_dumps):
    raw = jvm_dumps["Http31Pool"][0]
    half = raw[: len(raw) // 2]
    a = analyze_dumps([half])
    assert 0 < a.dumps[0]["threads"] < analyze_dumps([raw]).dumps[0]["threads"]
    assert any("truncated" in w for w in a.warnings)
    g = go_dumps["mutex"][0]
    cut = len(g) // 3
    while g[cut - 1:cut] == b"\n":  # mid-line: a cut right after a frame's line
        cut += 1                     # looks like a complete dump (see below)
    a = analyze_dumps([g[:cut]])
    assert a.dumps[0]["goroutines"] > 100
    assert any("truncated" in w for w in a.warnings)
    # cut right after a function line (its file line lost): still seen as truncated
    func_end = g.index(b"\n\t", len(g) // 3) + 1
    a = analyze_dumps([g[:func_end]])
    assert any("ends mid-frame" in w for w in a.warnings), a.warnings
    # the whole dump is not
    assert not any("truncated" in w for w in analyze_dumps([g]).warnings)


def test_bad_utf8_is_replaced_and_reported(jvm_dumps):
    raw = jvm_dumps["LockConvoy"][0]
    bad = raw.replace(b'"cache-refresher"', b'"cache-\xff\xfe-refresher"')
    a = analyze_dumps([bad])
    assert any("invalid UTF-8" in w for w in a.warnings)
    owners = {f.data["owner"] for f in a.findings}
    assert "cache-\ufffd\ufffd-refresher" in owners


def test_sigquit_stdout_with_two_dumps_is_split(jvm_dumps):
    """The JVM's stdout after two SIGQUITs holds two dumps: successive dumps of one JVM."""
    out = jvm_dumps["LockConvoy.sigquit"][0]
    dumps, warnings = parse_dump(out + out[out.find(b"\n20") + 1 :])
    assert len(dumps) == 2 and "2 thread dumps found in one input" in warnings
    assert dumps[0].summary()["threads"] == dumps[1].summary()["threads"]


def test_not_a_dump():
    a = analyze_dumps([b"hello\nworld\n", b""])
    assert a.kind == "unknown" and a.findings == []
    assert any("not a JVM thread dump nor a Go goroutine dump" in w for w in a.warnings)
