"""The `hostsnap` console script.

`hostsnap analyze` is run without importing the rest of the CLI: bot/cli.py pulls in the
store (SQLAlchemy), SSH, Slack and the config, ~0.6 s before a byte of a dump is read.
Every other command goes to bot/cli.py as before.
"""

from __future__ import annotations

import sys


def main() -> None:
    args = sys.argv[1:]
    if args[:1] == ["analyze"]:
        from bot.cli_analyze import main as analyze

        analyze(args[1:])
        return
    from bot.cli import main as cli

    cli()
