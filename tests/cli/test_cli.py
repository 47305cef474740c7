"""The CLI as a user runs it, on this machine (no SSH, no config)."""

import json

import pytest
from typer.testing import CliRunner

from bot.cli import app


@pytest.fixture
def cli(tmp_path, monkeypatch):
    monkeypatch.setenv("HOSTSNAP_DATABASE_URL", f"sqlite:///{tmp_path}/db.sqlite")
    monkeypatch.delenv("HOSTSNAP_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "noconfig"))
    runner = CliRunner()

    def run(*args: str, code: int | None = 0):
        r = runner.invoke(app, list(args))
        if code is not None:
            assert r.exit_code == code, (r.output, r.exception)
        return r

    return run


def test_snapshot_localhost_json_then_list_show_raw(cli):
    # the three host collectors: JVMs or containers of other suites on this machine
    # must not decide this test
    r = cli("snapshot", "localhost", "--json", "-c", "limits,memory,network")
    doc = json.loads(r.stdout)
    (snap,) = doc["snapshots"]
    assert snap["host"] == "localhost" and snap["status"] == "complete"
    got = {c["name"]: c["status"] for c in snap["collectors"]}
    assert {"limits", "memory", "network"} <= set(got)
    assert all(got[c] == "ok" for c in ("limits", "memory", "network")), got
    limits = snap["parsed"]["limits"]
    assert limits["threads_max"] > 0 and limits["processes"] > 0
    assert any(t["cmdline"] for t in limits["top"])

    assert snap["id"] in cli("list").stdout
    shown = cli("show", snap["id"]).stdout
    assert "limits/threads.tsv" in shown and "Evidence saved" in shown
    raw = cli("show", snap["id"][:5], "--raw", "threads.tsv").stdout
    assert raw.startswith("pid\tppid\tuser\tthreads")


def test_unknown_host_suggests_close_names(cli, tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[[hosts]]\nname = "web-03"\naddress = "10.213.0.99"\n')
    r = cli("snapshot", "web-3", "--config", str(cfg), code=2)
    assert "unknown host 'web-3' — did you mean web-03?" in r.output


def test_shell_text_is_refused_before_anything(cli):
    r = cli("snapshot", "web-03;rm -rf /", code=2)
    assert "is not a host name" in r.output


def test_bad_config_names_file_and_line(cli, tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[ssh]\nuser = "x"\n\n[[hosts]]\nname = "web-03"\nport = "ssh"\n')
    r = cli("hosts", "--config", str(cfg), code=2)
    assert f"{cfg} line 6: hosts.0.port" in r.output
    cfg.write_text("[ssh\n")
    r = cli("hosts", "--config", str(cfg), code=2)
    assert str(cfg) in r.output and "line 1" in r.output


def test_database_unreachable_is_one_line(cli, monkeypatch):
    monkeypatch.setenv("HOSTSNAP_DATABASE_URL", "postgresql://postgres:pw@127.0.0.1:1/nope")
    r = cli("list", code=1)
    assert r.output.count("\n") == 1 and "database unreachable (127.0.0.1:1/nope)" in r.output
    assert "pw" not in r.output


def test_show_unknown_id(cli):
    # an id that names no snapshot is bad input: one line, exit 2, quotes intact
    r = cli("show", "abcdefgh", code=2)
    assert r.output == "error: no snapshot abcdefgh\n"
    r = cli("show", "nosuchid", code=2)
    assert r.output == "error: 'nosuchid' is not a snapshot id (8 letters/digits)\n"


def test_db_upgrade_twice(cli):
    from bot.store.db import SCHEMA_HEAD

    assert f"database migrated: empty → {SCHEMA_HEAD}" in cli("db", "upgrade").stdout
    assert "up to date" in cli("db", "upgrade").stdout


def test_diff_two_local_snapshots(cli):
    a = json.loads(cli("snapshot", "localhost", "--json", "-c", "limits,network").stdout)
    b = json.loads(cli("snapshot", "localhost", "--json", "-c", "limits,network").stdout)
    ida, idb = a["snapshots"][0]["id"], b["snapshots"][0]["id"]
    shown = cli("diff", idb).stdout  # one id: compared with the host's previous snapshot
    assert f"localhost {ida} → localhost {idb}" in shown
    doc = json.loads(cli("diff", ida, idb, "--json").stdout)
    assert (doc["older"], doc["newer"]) == (ida, idb)
    r = cli("diff", ida, code=2)
    assert "has no earlier snapshot" in r.output
