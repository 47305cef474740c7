"""Bad CLI input: one line, exit 2, nothing contacted or recorded.

Host arguments and snapshot ids are generated (shell metacharacters, options, markup,
control characters, unicode) and run through the CLI's real entry point, `main()`, with
an empty inventory and `localhost` disallowed: whatever is typed, nothing may be captured."""

from __future__ import annotations

import contextlib
import io
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.cli import main

HOSTSNAP = str(Path(sys.executable).with_name("hostsnap"))
HOSTILE = ["-rf", "--evil", "web-03;rm -rf /", "$(reboot)", "`id`", "a|b", "x[bold]y",
           "Thread[/10.0.0.1:8080]", "\x1b[2J", "\x1b]0;owned\x07", "../../etc/passwd", "@",
           "@payments", "*", "web-*", "localhost", "a\nb", "é", "'", '"', "\\"]
TRIED = {"hosts": 0, "ids": 0}


def _run_main(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    old = sys.argv
    sys.argv = ["hostsnap", *argv]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main()
                code = 0
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else 1
    finally:
        sys.argv = old
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("cli-input")
    cfg = d / "c.toml"
    cfg.write_text(f'database_url = "sqlite:///{d}/h.db"\nallow_localhost = false\n')
    return cfg


def _rows(cfg: Path) -> int:
    db = Path(cfg.read_text().split("sqlite:///", 1)[1].split('"', 1)[0])
    if not db.exists():
        return 0
    with contextlib.closing(sqlite3.connect(db)) as c:
        tables = {r[0] for r in c.execute("select name from sqlite_master where type='table'")}
        return sum(c.execute(f"select count(*) from {t}").fetchone()[0]
                   for t in ("snapshots", "audit_events") if t in tables)


host_text = st.one_of(st.sampled_from(HOSTILE), st.text(min_size=0, max_size=40),
                      st.text(alphabet="-;$`|&<>()[]*?@./\\ \n\t'\"aZ09", max_size=20))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(hosts=st.lists(host_text, min_size=1, max_size=3))
@example(hosts=["--evil"])
@example(hosts=["web-03;rm -rf /"])
def test_any_host_argument_is_one_line_exit_2_and_contacts_nothing(config: Path,
                                                                   hosts: list[str]) -> None:
    if any(h in ("--help",) or "\x00" in h for h in hosts):
        return  # --help is help; NUL cannot be in a real argv
    TRIED["hosts"] += 1
    code, out, err = _run_main(["snapshot", "--config", str(config), *hosts])
    assert code == 2, (hosts, out, err)
    assert out == "" and err.startswith("error: ") and err.count("\n") == 1, (hosts, err)
    assert "Traceback" not in err and "\x1b" not in err
    assert _rows(config) == 0


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sid=st.one_of(st.sampled_from(HOSTILE), st.text(min_size=1, max_size=30)))
@example(sid="nosuchid")
@example(sid="abcdefgh")
def test_any_snapshot_id_is_one_line_exit_2(config: Path, sid: str) -> None:
    if sid == "--help" or "\x00" in sid:
        return
    TRIED["ids"] += 1
    for cmd in (["show", sid], ["diff", sid], ["show", "--raw", "threads.tsv", sid]):
        code, out, err = _run_main([*cmd[:1], "--config", str(config), *cmd[1:]])
        assert code == 2, (cmd, out, err)
        assert out == "" and err.startswith("error: ") and err.count("\n") == 1, (cmd, err)
        assert "\x1b" not in err
    assert _rows(config) == 0


def test_counts_reported() -> None:
    # runs after the properties in this module: they really tried inputs
    print(f"\ncli input tried: {TRIED}")
    assert TRIED["hosts"] >= 100 and TRIED["ids"] >= 60


@pytest.mark.parametrize("argv,want", [
    (["snapshot", "--evil"], "error: No such option: --evil"),
    (["snapshot", "-rf"], "error: No such option: -r"),
    (["show", "nosuchid"], "error: 'nosuchid' is not a snapshot id (8 letters/digits)"),
    (["show"], "error: Missing argument 'ID'."),
    (["nosuchcommand"], "error: No such command 'nosuchcommand'."),
])
def test_real_process_one_line_exit_2(config: Path, argv: list[str], want: str) -> None:
    env = {**os.environ, "HOSTSNAP_CONFIG": str(config)}
    r = subprocess.run([HOSTSNAP, *argv], capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 2 and r.stdout == "", r
    assert r.stderr.startswith(want) and r.stderr.count("\n") == 1, r.stderr
