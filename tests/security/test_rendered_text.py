"""Data is shown as text (issue 13): every terminal renderer the CLI uses,
fed models whose every string field is arbitrary text — Rich markup (`[/x]`,
`[bold]`), emoji codes, escape sequences (`\\x1b[2J`, OSC titles), `\\r`,
backslashes, unicode — must not crash, must show the text verbatim (after
bot.render.text.safe_text made its control characters visible), and must
let no control character from the data reach the terminal.

What "verbatim" means exactly: for a one-line field, safe_text(value) appears
in the output as one contiguous run; for a multi-line field (evidence text,
code blocks, hints), every run of safe_text(value, multiline=True) between
newlines and tabs appears (Rich turns a tab into spaces, a newline into a line
break). Fields that a renderer cuts (`[:80]`) are checked cut the same way.
Text of no width at all (a lone combining mark) is exempt: Rich may give it a
zero-width column, and there is nothing to see either way.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import re
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.cells import cell_len
from rich.console import Console

from bot.alerts.ledger import Ledger
from bot.alerts.payloads import Alert
from bot.cli.snapshot import ProgressView
from bot.cli.watch import _table as watch_table
from bot.cli_analyze import render as render_analysis
from bot.render import terminal
from bot.render.text import SafeFormatter, safe_text
from bot.store.models import AlertRow
from bot.store.service import Store
from bot.store.views import ArtifactView, CollectorView, SnapshotSummary, SnapshotView
from collectors.analysis.diff import DumpChange, NumberDelta, ProcessDelta, SnapshotDiff
from collectors.analysis.dumps import CountDelta, DumpAnalysis, DumpDiff, GroupDelta
from collectors.analysis.findings import CodeBlock, Finding, Severity, TableBlock, TextBlock
from collectors.analysis.fleet import FleetSummary, HostRow, Standout
from collectors.base import Artifact, CollectorResult, Status

EXAMPLES = 300
HOSTILE = ["[", "]", "[/x]", "[/10.0.0.1:8080]", "[bold]", "x[bold]y", "[/]", "[red]",
           "[link=http://evil]", "\\", "\\[", ":smile:", "\x1b[2J", "\x1b]0;title\x07",
           "\x1b]8;;http://evil\x1b\\", "\r", "\n", "\t", "\x00", "\x07", "\x08", "\x7f",
           "\x9b31m", "\u202e", "é", "漢字", "😀", "&lt;", "<!channel>", "%s", "{}"]
#: arbitrary text in every string field, with the hostile pieces mixed in
data = st.lists(st.one_of(st.sampled_from(HOSTILE), st.text(max_size=8)),
                max_size=4).map("".join)
COUNTS: Counter[str] = Counter()
WHEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
SGR = re.compile(r"\x1b\[[0-9;]*m")  # Rich's own styles: the only escapes allowed
CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")  # \n is a line break


def _render(draw: Callable[[Console], None], *, terminal_: bool) -> str:
    buf = io.StringIO()
    console = Console(file=buf, width=4000, force_terminal=terminal_, color_system=(
        "truecolor" if terminal_ else None), highlight=True, emoji=True, legacy_windows=False)
    draw(console)
    return buf.getvalue()


def check(name: str, draw: Callable[[Console], None], one_line: list[str],
          multi_line: Sequence[str] = ()) -> None:
    """No crash on a plain or a colour terminal; no data-derived control
    character in either; every field verbatim in the plain output."""
    COUNTS[name] += 1
    colour = _render(draw, terminal_=True)
    assert not CONTROL.search(SGR.sub("", colour)), repr(colour)
    plain = _render(draw, terminal_=False)
    assert not CONTROL.search(plain), repr(plain)
    for s in one_line:
        assert safe_text(s) in plain or not cell_len(s), (s, plain)
    for s in multi_line:
        for run in re.split(r"[\n\t]", safe_text(s, multiline=True)):
            assert run in plain or not cell_len(run), (s, run, plain)


def run(test: Callable[[], None]) -> None:
    settings(max_examples=EXAMPLES, deadline=None, database=None,
             suppress_health_check=list(HealthCheck))(test)()
    print(f"{dict(COUNTS)} generated inputs rendered, none crashed")  # pytest -s: the counts


@st.composite
def findings(draw: st.DrawFn) -> tuple[Finding, list[str], list[str]]:
    rule, title, subject, hint, head, c1, c2, body, code, ctitle = (draw(data)
                                                                   for _ in range(10))
    f = Finding(rule=rule, severity=draw(st.sampled_from(list(Severity))), title=title,
                hint=hint, subject=subject, evidence=[
                    TextBlock(text=body), TableBlock(headers=[head, "n"], rows=[[c1, c2]]),
                    CodeBlock(text=code, title=ctitle)])
    return f, [rule, title, head, c1, c2, ctitle], [hint, body, code]


def test_findings() -> None:
    @given(findings())
    def prop(x: tuple[Finding, list[str], list[str]]) -> None:
        f, one, multi = x
        check("print_findings", lambda c: terminal.print_findings(c, [f]), one, multi)

    run(prop)
    assert COUNTS["print_findings"] >= EXAMPLES


@st.composite
def views(draw: st.DrawFn) -> tuple[SnapshotView, list[str], list[str]]:
    s = [draw(data) for _ in range(16)]
    f, one, multi = draw(findings())
    v = SnapshotView(
        id=s[0], host=s[1], status=draw(st.sampled_from(["complete", "partial", s[2]])),
        trigger=s[3], requested_by=s[4], created_at=WHEN, duration_s=1.5, error=s[5],
        headline=s[6], collectors=[CollectorView(name=s[7], status=s[8], error=s[9]),
                                   CollectorView(name="jvm", status="partial",
                                                 warnings=[s[10]])],
        artifacts=[ArtifactView(name=s[11], collector="jvm", size=1, stored_size=1,
                                sha256=s[12])],
        finding_list=[f],
        # as the typed results are stored (JvmResult, ContainersSummary): a pid is a number
        parsed={"jvm": {"jvms": [
            {"pid": 1, "user": s[14], "threads": 3, "jdk": s[15],
             "dumps": [{"method": s[2], "why": s[3]}]},
            {"pid": 2, "user": s[13], "error": s[4]}]},
            "docker": {"containers": [{"name": s[5], "state": s[6]}]}})
    return v, [*s[:4], *s[5:12], *s[13:16], s[12][:16], v.status, v.headline[:80], *one], multi


def test_snapshot_show_and_list() -> None:
    """`hostsnap show` (and `snapshot`'s report) and `hostsnap list`."""

    @given(views())
    def prop(x: tuple[SnapshotView, list[str], list[str]]) -> None:
        v, one, multi = x

        def draw(c: Console) -> None:
            terminal.print_snapshot(c, v)
            for t in terminal.runtime_tables(v):
                c.print(t)
            c.print(terminal.collectors_table(v))
            c.print(terminal.artifacts_table(v))
            c.print(terminal.snapshots_table([SnapshotSummary.model_validate(
                v.model_dump())]))

        check("show/list", draw, one, multi)

    run(prop)
    assert COUNTS["show/list"] >= EXAMPLES


def test_alerts_table() -> None:
    """`hostsnap alerts`."""

    @given(st.lists(data, min_size=6, max_size=6))
    def prop(s: list[str]) -> None:
        r = AlertRow(id=7, received_at=WHEN, alertname=s[0], severity=s[1], status=s[2],
                     host=s[3], outcome=s[4], detail=s[5], snapshot_id=None, covered_by=3)
        name = s[0] + (f" ({s[1]})" if s[1] else "")
        check("alerts", lambda c: c.print(terminal.alerts_table([r])),
              [name[:40], s[2], s[3][:40], s[4], s[5][:100]])

    run(prop)
    assert COUNTS["alerts"] >= EXAMPLES


def test_fleet() -> None:
    """`hostsnap snapshot` of several hosts."""

    @given(st.lists(data, min_size=8, max_size=8))
    def prop(s: list[str]) -> None:
        fleet = FleetSummary(rows=[HostRow(host=s[0], group=s[1], snapshot_id=s[2],
                                           status=s[3], headline=s[4])],
                             standouts=[Standout(host=s[0], what="threads", text=s[5])])
        check("fleet", lambda c: terminal.print_fleet(c, fleet, {s[6]: s[7]}),
              [s[0], s[1], s[2], s[3], s[4][:70], s[5], s[6], s[7][:70]])

    run(prop)
    assert COUNTS["fleet"] >= EXAMPLES


def test_diff() -> None:
    """`hostsnap diff`."""

    @given(st.lists(data, min_size=10, max_size=10))
    def prop(s: list[str]) -> None:
        dd = DumpDiff(kind="jvm", total_before=1, total_after=2, delta=1, states=[],
                      pools=[CountDelta(name=s[0], before=1, after=2, delta=1)],
                      appeared=[GroupDelta(key="k", state=s[1], top_frame=s[2], before=0,
                                           after=1, delta=1)],
                      vanished=[GroupDelta(key="k", state=s[3], top_frame=s[4], before=1,
                                           after=0, delta=-1)], changed=[])
        d = SnapshotDiff(older=s[5], newer=s[6], host_older=s[7], host_newer=s[8],
                         seconds_apart=3, numbers=[NumberDelta(name=s[9], before=1, after=2)],
                         processes=[ProcessDelta(pid=1, name=s[0], before=1, after=2)],
                         findings_new=[s[1]], findings_gone=[s[2]],
                         dumps=[DumpChange(subject=s[3], diff=dd)], notes=[s[4]])
        check("diff", lambda c: terminal.print_diff(c, d), s)

    run(prop)
    assert COUNTS["diff"] >= EXAMPLES


def test_analyze() -> None:
    """`hostsnap analyze`: the dump lines, warnings and findings."""

    @given(st.lists(data, min_size=4, max_size=4), findings())
    def prop(s: list[str], x: tuple[Finding, list[str], list[str]]) -> None:
        f, one, multi = x
        a = DumpAnalysis(kind="jvm", dumps=[{"format": s[0], "threads": 3, "pid": 9,
                                             "states": {s[1]: 2}, "pools": {s[2]: 1}}],
                         warnings=[s[3]], findings=[f])
        check("analyze", lambda c: render_analysis(c, a), [*s, *one], multi)

    run(prop)
    assert COUNTS["analyze"] >= EXAMPLES


def test_watch_and_progress() -> None:
    """`hostsnap watch --status` and `hostsnap snapshot`'s live progress."""

    @given(st.lists(data, min_size=6, max_size=6))
    def prop(s: list[str]) -> None:
        rows: list[dict[str, Any]] = [{"host": s[0], "connected": False, "shell": True,
                                       "up_s": None, "reconnects": 1, "holders": [s[1]],
                                       "last_error": s[2]}]
        view = ProgressView([s[3]], ["threads"])
        view.rows[s[3]].update({"threads": s[4], "id": s[5]})

        def draw(c: Console) -> None:
            c.print(watch_table(rows))
            c.print(view)

        check("watch/progress", draw, s)

    run(prop)
    assert COUNTS["watch/progress"] >= EXAMPLES


# -- end to end: the real `hostsnap` command -----------------------------------------
HOSTSNAP = str(Path(sys.executable).parent / "hostsnap")
DATA = Path(__file__).parents[1] / "analysis" / "data"
ESCAPES = "\x1b]0;pwned\x07\x1b[2J\x9b2J\r"


async def _hostsnap(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    p = await asyncio.create_subprocess_exec(
        HOSTSNAP, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "COLUMNS": "250", **(env or {})})
    out, err = await asyncio.wait_for(p.communicate(), 120)
    assert p.returncode is not None
    return p.returncode, out.decode(), err.decode()


def _no_data_escapes(out: str) -> None:
    assert not CONTROL.search(SGR.sub("", out)), repr(out)


async def test_analyze_shows_hostile_thread_names_verbatim(tmp_path: Path) -> None:
    """The deadlock of `Thread[/10.0.0.1:8080]` and `x[bold]y` (a closing tag
    that crashed Rich; a style that lost its brackets), next to a thread whose
    name carries an OSC title, a clear-screen and a C1 CSI."""
    dump = (DATA / "jdk8_handmade.txt").read_text()
    dump = (dump.replace("worker-1", "Thread[/10.0.0.1:8080]").replace("worker-2", "x[bold]y")
            .replace("Attach Listener", f"evil{ESCAPES}:smile:"))
    f = tmp_path / "dump.txt"
    f.write_text(dump)
    code, out, err = await _hostsnap("analyze", str(f))
    assert code == 1, err  # critical: the deadlock
    assert 'deadlock of 2 threads: "x[bold]y" and "Thread[/10.0.0.1:8080]"' in out
    assert '╭─ "Thread[/10.0.0.1:8080]" (BLOCKED)' in out
    assert "x[bold]y  " in out  # the evidence table's cell, brackets and all
    # its pool: digits read N, as for every pool; \r ends a line in a dump
    assert "top: GC task thread#N (ParallelGC) 2, evil\\x1b]N;pwned\\x07\\x1b[NJ\\x9bNJ" in out
    _no_data_escapes(out)
    code, doc, _ = await _hostsnap("analyze", "--json", str(f))
    assert "\x9b" not in doc and "\x1b" not in doc  # JSON escapes them: \u009b
    assert json.loads(doc)["findings"][0]["title"].endswith(
        '"x[bold]y" and "Thread[/10.0.0.1:8080]" (java.lang.Object)')


async def test_alerts_lists_hostile_alert_names_verbatim(tmp_path: Path) -> None:
    """`hostsnap alerts` on a SQLite database holding alerts named `Evil[/x]`
    (crashed Rich) and one with escape sequences in its name and detail."""
    url = f"sqlite:///{tmp_path}/db.sqlite"
    store = await Store.open(url)
    try:
        ledger = Ledger(store)
        names = ["Evil[/x]", f"Esc{ESCAPES}", "[bold]x[/bold]"]
        ids = await ledger.record([Alert(
            receiver="am", status="firing", fingerprint=f"f{i}", starts_raw="t",
            starts_at=None, ends_at=None, labels={"alertname": n, "instance": "h[/i]"})
            for i, n in enumerate(names)])
        for i in ids.values():
            await ledger.set_outcome(i, "unknown_host", f"instance=h[/i]{ESCAPES}: not in "
                                                       "the inventory")
    finally:
        await store.close()
    env = {"HOSTSNAP_DATABASE_URL": url, "XDG_CONFIG_HOME": str(tmp_path / "none")}
    code, out, err = await _hostsnap("alerts", env=env)
    assert code == 0, err
    assert "Evil[/x]" in out and "[bold]x[/bold]" in out
    assert "Esc\\x1b]0;pwned\\x07\\x1b[2J\\x9b2J\\r" in out
    assert out.count("instance=h[/i]\\x1b]0;pwned") == 3
    _no_data_escapes(out)
    code, out, err = await _hostsnap("alerts", "--host", "[/nope]\x1b[2J", env=env)
    assert code == 0 and "no alerts for [/nope]\\x1b[2J received yet" in out, err
    assert "see `[alerts]` in the README" in out  # a literal, not a tag


async def _stored_hostile_snapshot(url: str) -> str:
    """A snapshot as a hostile host would leave it: every text it wrote is data."""
    store = await Store.open(url)
    try:
        sid = await store.create_snapshot(f"web[/x]{ESCAPES}", group="g[bold]")
        f = Finding(rule="THREADS", severity=Severity.CRITICAL,
                    title=f"pool Thread[/10.0.0.1:8080]{ESCAPES} near its limit",
                    hint="x[bold]y", evidence=[TableBlock(headers=["thread"],
                                                          rows=[[f"x[bold]y{ESCAPES}"]])])
        await store.add_result(sid, CollectorResult(
            collector="jvm", status=Status.PARTIAL, error=f"jcmd said [/red]{ESCAPES}",
            artifacts=[Artifact(f"dump[/x]{ESCAPES}.txt", b"line1\x1b[2J\x1b]0;t\x07\n")],
            findings=[f]))
        await store.finish_snapshot(sid)
        return sid
    finally:
        await store.close()


async def test_show_list_and_raw_of_a_hostile_snapshot(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/db.sqlite"
    sid = await _stored_hostile_snapshot(url)
    env = {"HOSTSNAP_DATABASE_URL": url, "XDG_CONFIG_HOME": str(tmp_path / "none")}
    shown = "\\x1b]0;pwned\\x07\\x1b[2J\\x9b2J\\r"
    code, out, err = await _hostsnap("show", sid, env=env)
    assert code == 0, err
    for s in (f"web[/x]{shown}", f"Thread[/10.0.0.1:8080]{shown} near its limit", "x[bold]y",
              f"x[bold]y{shown}", f"jcmd said [/red]{shown}", f"dump[/x]{shown}.txt"):
        assert s in out, (s, out)
    _no_data_escapes(out)
    code, out, err = await _hostsnap("list", env=env)
    assert code == 0 and f"web[/x]{shown}" in out, err
    _no_data_escapes(out)
    name = f"dump[/x]{ESCAPES}.txt"
    # piped: the bytes as stored (a file, a pager that knows them)
    code, out, _ = await _hostsnap("show", sid, "--raw", name, env=env)
    assert out == "line1\x1b[2J\x1b]0;t\x07\n"
    # on a terminal: shown, not obeyed
    main, sub = os.openpty()
    try:
        p = await asyncio.create_subprocess_exec(
            HOSTSNAP, "show", sid, "--raw", name, stdout=sub, stderr=asyncio.subprocess.PIPE,
            env={**os.environ, **env})
        os.close(sub)
        _, err_b = await asyncio.wait_for(p.communicate(), 60)
        assert p.returncode == 0, err_b
        tty = await asyncio.to_thread(os.read, main, 65536)
    finally:
        os.close(main)
    assert tty.decode() == "line1\\x1b[2J\\x1b]0;t\\x07\r\n"  # the pty turns \n into \r\n


async def test_errors_quoting_what_was_typed(tmp_path: Path) -> None:
    """Error lines quote ids and arguments: shown, not obeyed (nor parsed as markup)."""
    env = {"HOSTSNAP_DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite",
           "XDG_CONFIG_HOME": str(tmp_path / "none")}
    code, _, err = await _hostsnap("show", "[/x]\x1b]0;t\x07", env=env)
    assert code == 2 and "[/x]\\x1b]0;t\\x07" in err, err
    _no_data_escapes(err)
    code, _, err = await _hostsnap("list", "--x[/y]\x1b[2J", env=env)  # a usage error
    assert code == 2 and "No such option: --x[/y]\\x1b[2J" in err, err
    _no_data_escapes(err)


def test_log_lines_of_the_bot() -> None:
    """`hostsnap serve` logs through SafeFormatter: a newline in an alert name
    cannot forge a log record, an escape sequence is shown, a traceback keeps
    its lines."""
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.setFormatter(SafeFormatter("%(levelname)s %(name)s: %(message)s"))
    log = logging.getLogger("hostsnap.test.safe")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("alert %s refused", "Evil\nERROR bot: forged\x1b]0;t\x07")
        try:
            raise ValueError("bad\x1b[2J")
        except ValueError:
            log.exception("capture of %s failed", "h\r")
    finally:
        log.removeHandler(handler)
    lines = buf.getvalue().splitlines()
    assert lines[0] == "WARNING hostsnap.test.safe: alert Evil\\nERROR bot: forged\\x1b]0;t\\x07 refused"
    assert lines[1] == "ERROR hostsnap.test.safe: capture of h\\r failed"
    assert lines[2] == "Traceback (most recent call last):"
    assert lines[-1] == "ValueError: bad\\x1b[2J"
    assert not CONTROL.search(buf.getvalue())
