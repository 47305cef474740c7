"""The `hostsnap` program: every command in bot/cli/commands.py, each in its
own module, imported only when that command runs. `hostsnap --help` alone is
drawn by bot/cli/help.py without typer (bot/entry.py)."""

from __future__ import annotations

import gc
import importlib
import sys
from typing import Any

import typer
from typer import _click
from typer.core import TyperCommand, TyperGroup

from bot.cli.commands import COMMANDS, ROOT_HELP  # the table: typer-free, for --help


def load(name: str) -> _click.Command:
    """The real command: its module imported now."""
    mod = importlib.import_module(COMMANDS[name][0])
    if not gc.isenabled():  # the console script imports with the GC off (bot/entry.py):
        gc.freeze()  # what imports built lives as long as the process; collections skip it
        gc.enable()
    sub = getattr(mod, "app", None)
    if sub is None:
        sub = typer.Typer()
        mod.register(sub)
    group = typer.main.get_group(sub)
    cmd = group.get_command(_click.Context(group), name)
    if cmd is None:
        raise LookupError(f"{COMMANDS[name][0]} has no command {name!r}")
    return cmd


class _Stub(TyperCommand):
    """A command's name and one-line help, before its module is imported."""


class LazyGroup(TyperGroup):
    """Lists commands from COMMANDS (stubs carrying the one-line help), loads
    a command's module when it is invoked (or its own --help is asked)."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        for name, (_, short) in COMMANDS.items():  # the names also feed "did you mean"
            self.commands.setdefault(name, _Stub(name, help=short, short_help=short))
        self._listing = False

    def get_command(self, ctx: _click.Context, cmd_name: str) -> _click.Command | None:
        if cmd_name not in COMMANDS or self._listing:
            return super().get_command(ctx, cmd_name)
        cmd = self.commands.get(cmd_name)
        if cmd is None or isinstance(cmd, _Stub):
            cmd = self.commands[cmd_name] = load(cmd_name)
        return cmd

    def format_help(self, ctx: _click.Context, formatter: _click.HelpFormatter) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


app = typer.Typer(
    name="hostsnap", cls=LazyGroup, no_args_is_help=True, add_completion=False,
    help=ROOT_HELP,
)


@app.callback()
def _root() -> None:
    """Capture the evidence a restart destroys: thread limits, memory, TCP state,
    dumps — before anyone restarts."""


def main() -> None:
    """Usage errors (an unknown option, a host that looks like one) are one line, exit 2,
    not the multi-line usage box."""
    try:
        rc = app(standalone_mode=False)
    except typer.TyperException as e:  # typer's (vendored click's) usage and parameter errors
        ctx = getattr(e, "ctx", None)
        msg = " ".join(e.format_message().split())
        hint = f" (`{ctx.command_path} --help` for usage)" if ctx is not None else ""
        if msg:  # empty when the help was shown instead (no arguments at all)
            print(f"error: {_safe_text(msg)}{hint}", file=sys.stderr)  # msg quotes argv
        sys.exit(e.exit_code)
    except typer.Abort:
        print("aborted", file=sys.stderr)
        sys.exit(130)
    sys.exit(rc if isinstance(rc, int) else 0)


def _safe_text(text: str) -> str:
    from bot.render.text import safe_text  # only on an error: rich stays unloaded for --help

    return safe_text(text)
