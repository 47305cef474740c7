"""`hostsnap --help` is drawn without typer (bot/cli/help.py): it must be the
very screen typer draws for the same program, in colour or not, at any width."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

TYPER = "import sys; sys.argv[0] = 'hostsnap'; from bot.cli.program import main; main()"
FAST = "import sys; sys.argv[0] = 'hostsnap'; from bot.entry import main; main()"


def _help(code: str, **env: str) -> tuple[int, str, set[str]]:
    run_env = {k: v for k, v in os.environ.items()
               if k not in ("COLUMNS", "FORCE_COLOR", "PY_COLORS", "TERMINAL_WIDTH")}
    probe = ("import atexit, sys\n"
             "atexit.register(lambda: sys.stderr.write('MODULES ' + ' '.join(sys.modules)))\n")
    r = subprocess.run([sys.executable, "-c", probe + code, "--help"], env={**run_env, **env},
                       capture_output=True, text=True, timeout=60)
    mods = set(r.stderr.rsplit("MODULES ", 1)[-1].split())
    return r.returncode, r.stdout, mods


@pytest.mark.parametrize("env", [{}, {"COLUMNS": "60"}, {"COLUMNS": "120"},
                                 {"FORCE_COLOR": "1"}, {"FORCE_COLOR": "1", "COLUMNS": "70"},
                                 {"TERMINAL_WIDTH": "90"}])
def test_fast_help_is_typers_screen(env: dict[str, str]) -> None:
    rc_typer, typer_out, typer_mods = _help(TYPER, **env)
    rc, out, mods = _help(FAST, **env)
    assert "typer" in typer_mods and "typer" not in mods
    assert (rc, out) == (rc_typer, typer_out)
    assert rc == 0 and "Commands" in out and "collectors" in out
    if "FORCE_COLOR" in env:
        assert "\x1b[1;36msnapshot" in out  # coloured, as typer colours it
