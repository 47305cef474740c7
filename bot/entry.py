"""The `hostsnap` console script.

`hostsnap analyze` is run with argparse, without typer: the store (SQLAlchemy), SSH,
Slack and the config would cost ~0.6 s before a byte of a dump is read. `hostsnap --help`
is drawn from the command table (bot/cli/help.py). Every other command goes to
bot/cli, which imports only the invoked command's module.
"""

from __future__ import annotations

import gc
import sys


def main() -> None:
    args = sys.argv[1:]
    if args[:1] == ["analyze"]:
        _analyze(args[1:])
        return
    if args == ["--help"]:  # typer's screen, drawn without typer (~0.1 s less)
        from bot.cli.help import print_help

        print_help()
        return
    # Imports build ~10^5 objects and no garbage; the GC would walk them again and
    # again (~0.08 s a start). bot.cli.program.load turns it back on, frozen, once
    # the command's module is in.
    gc.disable()
    from bot.cli.program import main as cli

    cli()


def _analyze(args: list[str]) -> None:
    """One short-lived command: the cyclic GC is off (parsing allocates ~10 objects per
    thread and makes no cycles, yet each collection of the growing heap re-walks it),
    and everything is frozen before the exit, so that the interpreter's final collection
    (made even with the GC off) does not walk the heap once more."""
    gc.disable()
    from bot.cli_analyze import main as analyze

    try:
        analyze(args)
    finally:
        gc.freeze()
