"""`hostsnap --help` and each command import only what they use: the help
comes from the command table, a command's module is imported when it runs."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("sqlalchemy", "asyncssh", "slack_sdk", "slack_bolt", "aiohttp", "alembic",
         "bot.store", "bot.config", "bot.capture", "bot.slack")


def _modules_after(*argv: str) -> tuple[int, set[str], str]:
    """Run `hostsnap ARGV` in a fresh interpreter; the modules it had loaded at exit."""
    code = ("import atexit, json, sys\n"
            "atexit.register(lambda: print('MODULES ' + json.dumps(sorted(sys.modules))))\n"
            f"sys.argv = ['hostsnap', *{list(argv)!r}]\n"
            "from bot.entry import main\nmain()\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=60)
    line = next(x for x in r.stdout.splitlines() if x.startswith("MODULES "))
    return r.returncode, set(json.loads(line.removeprefix("MODULES "))), r.stdout


def _heavy(mods: set[str]) -> list[str]:
    return sorted(m for m in mods if m.split(".")[0] in HEAVY or m.startswith(HEAVY))


def test_help_lists_every_command_without_importing_them() -> None:
    rc, mods, out = _modules_after("--help")
    assert rc == 0
    for name in ("snapshot", "list", "show", "hosts", "db", "analyze", "serve", "watch",
                 "diff", "alerts", "collectors"):
        assert f" {name} " in out, name
    assert not _heavy(mods), _heavy(mods)
    assert not [m for m in mods if m.startswith("bot.cli.")
                and m not in ("bot.cli.program", "bot.cli.help", "bot.cli.commands")]


def test_a_command_imports_its_own_module_only() -> None:
    rc, mods, out = _modules_after("collectors", "--json")
    assert rc == 0 and json.loads(out.split("MODULES ")[0])
    assert "bot.cli.collectors" in mods
    assert not {"bot.cli.snapshot", "bot.cli.serve", "bot.cli.watch", "bot.cli.browse"} & mods
    assert not [m for m in mods if m.split(".")[0] in ("slack_sdk", "slack_bolt", "aiohttp")]
