"""diff_thread_dumps / diff_goroutine_dumps on live dumps, and `hostsnap analyze`."""

from __future__ import annotations

import json

import typer
from typer.testing import CliRunner

from bot.cli_analyze import register
from collectors.analysis.dumps import diff_goroutine_dumps, diff_thread_dumps, parse_dump
from collectors.analysis.dumptext import prepare
from collectors.analysis.goroutines import parse_goroutines
from collectors.analysis.jstack import parse_thread_dump


def _jvm(raw: bytes):
    return parse_thread_dump(prepare(raw)[0])


def test_thread_diff_from_dumps_and_from_stored_summaries(jvm_dumps):
    first, second = (_jvm(x) for x in jvm_dumps["EvictorLeak"])
    d = diff_thread_dumps(first, second)
    evictors = next(p for p in d.pools if p.name == "Connection evictor")
    n0 = sum(t.pool == "Connection evictor" for t in first.threads)
    n1 = sum(t.pool == "Connection evictor" for t in second.threads)
    assert (evictors.before, evictors.after, evictors.delta) == (n0, n1, n1 - n0)
    assert d.pools[0].name == "Connection evictor"  # the biggest change comes first
    assert d.delta == len(second.threads) - len(first.threads) > 0
    evictor_group = next(g for g in d.changed if "IdleConnectionEvictor" in g.top_frame
                         or "Thread.sleep" in g.top_frame)
    # an evictor caught awake between two sleeps has another stack for that dump
    assert abs(evictor_group.delta - (n1 - n0)) <= 3 and evictor_group.delta > 0
    # Stored summaries (JSON round trip) diff to the same numbers, without reparsing.
    s0, s1 = (json.loads(json.dumps(x.summary())) for x in (first, second))
    stored = diff_thread_dumps(s0, s1)
    assert stored.pools[0] == d.pools[0] and stored.delta == d.delta


def test_thread_diff_groups_that_appear_and_vanish(jvm_dumps):
    healthy, pool = _jvm(jvm_dumps["Healthy"][0]), _jvm(jvm_dumps["Http31Pool"][0])
    d = diff_thread_dumps(healthy, pool)
    assert any("doGetConnection" in "".join(
        next(g["frames"] for g in pool.summary()["groups"] if g["key"] == a.key))
        for a in d.appeared if a.after == 38)
    assert any(v.before == 16 for v in d.vanished)  # the idle exec pool is gone


def test_goroutine_diff(go_dumps):
    first, second = (parse_goroutines(x.decode()) for x in go_dumps["grow"])
    d = diff_goroutine_dumps(first, second)
    handle = next(g for g in d.changed if g.state == "chan receive"
                  and g.top_frame == "main.handle")
    def handlers(dump):
        return sum(g.state == "chan receive" and g.stack.funcs[:1] == ("main.handle",)
                   for g in dump.goroutines)

    n0, n1 = handlers(first), handlers(second)
    assert (handle.before, handle.after, handle.delta) == (n0, n1, n1 - n0)
    assert n1 - n0 > 0
    # The runtime's own goroutines (GC workers, the dump's HTTP connection) come
    # and go between dumps, so the total moves by the handlers give or take those.
    assert d.delta == second.total - first.total
    assert abs(d.delta - handle.delta) <= 20
    assert d.pools[0].name == "main.growMode.func1" and d.pools[0].delta == handle.delta


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """test root, so `analyze` is a subcommand as in hostsnap"""

    register(app)
    return app


def test_cli_prints_findings_and_exit_codes(jvm_dumps, tmp_path):
    runner = CliRunner()
    dead = tmp_path / "dead.txt"
    dead.write_bytes(jvm_dumps["Deadlock"][0])
    r = runner.invoke(_app(), ["analyze", str(dead)], env={"COLUMNS": "200"})
    assert r.exit_code == 1, r.output  # a critical finding
    assert "CRITICAL" in r.output and "JVM_DEADLOCK" in r.output
    assert '"transfer-1" and "transfer-2"' in r.output
    assert "at Deadlock.transfer(Deadlock.java" in r.output  # the frames as evidence

    healthy = tmp_path / "healthy.txt"
    healthy.write_bytes(jvm_dumps["Healthy"][0])
    r = runner.invoke(_app(), ["analyze", str(healthy)])
    assert r.exit_code == 0 and "no findings" in r.output


def test_cli_two_dumps_json(jvm_dumps, tmp_path):
    files = []
    for i, raw in enumerate(jvm_dumps["EvictorLeak"]):
        files.append(tmp_path / f"d{i}.txt")
        files[-1].write_bytes(raw)
    r = CliRunner().invoke(_app(), ["analyze", "--json", *map(str, files)])
    assert r.exit_code == 1  # >= 200 evictors is critical
    out = json.loads(r.stdout)
    assert out["kind"] == "jvm" and len(out["dumps"]) == 2
    assert {f["rule"] for f in out["findings"]} == {"HTTPCLIENT_EVICTOR_LEAK", "THREAD_GROWTH"}


def test_cli_stdin_and_bad_input(go_dumps, tmp_path):
    runner = CliRunner()
    r = runner.invoke(_app(), ["analyze", "-"], input=go_dumps["leak"][0])
    assert r.exit_code == 0 and "GO_GOROUTINE_LEAK" in r.output
    r = runner.invoke(_app(), ["analyze", "--stdin", "--json"], input=go_dumps["mutex"][0])
    assert r.exit_code == 1 and json.loads(r.stdout)["findings"][0]["rule"] == "GO_MUTEX_PILEUP"

    r = runner.invoke(_app(), ["analyze", str(tmp_path / "missing.txt")])
    assert r.exit_code == 2
    assert r.stderr.strip().count("\n") == 0
    assert "cannot read" in r.stderr and "missing.txt" in r.stderr
    junk = tmp_path / "junk.txt"
    junk.write_text("not a dump\n")
    r = runner.invoke(_app(), ["analyze", str(junk)])
    assert r.exit_code == 2 and "not a JVM thread dump nor a Go goroutine dump" in r.stderr


def test_parse_dump_kinds(go_dumps):
    dumps, _ = parse_dump(go_dumps["healthy"][1])
    assert dumps[0].summary()["format"] == "debug=1"
    dumps, warnings = parse_dump(go_dumps["healthy"][0], kind="nonsense")
    assert dumps == [] and warnings == ["unknown dump kind 'nonsense'"]
