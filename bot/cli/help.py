"""`hostsnap --help` without typer: the same screen typer draws (same rich
renderables, styles and console settings as typer.rich_utils for a group),
from the command table. Importing typer and its help module (markdown, tracebacks)
costs ~0.1 s, most of a `--help`; tests/cli/test_help.py holds the two outputs equal."""

from __future__ import annotations

import os

from rich.align import Align
from rich.columns import Columns
from rich.console import Console, Group
from rich.highlighter import RegexHighlighter
from rich.padding import Padding
from rich.panel import Panel
from rich.table import Table
from rich.text import Text
from rich.theme import Theme

from bot.cli.commands import COMMANDS, ROOT_HELP


class _OptionHighlighter(RegexHighlighter):
    """typer.rich_utils.OptionHighlighter."""

    highlights = [  # noqa: RUF012  (rich's own attribute)
        r"(^|\W)(?P<switch>\-\w+)(?![a-zA-Z0-9])",
        r"(^|\W)(?P<option>\-\-[\w\-]+)(?![a-zA-Z0-9])",
        r"(?P<types>\<[^\>]+\>)",
        r"(?P<usage>Usage: )",
    ]


class _TypesHighlighter(RegexHighlighter):
    highlights = [  # noqa: RUF012  (rich's own attribute)
        r"^(?P<types_sep>(\[|<))",
        r"(?P<types_sep>\|)",
        r"(?P<types_sep>(\]|>))(\.\.\.)?$",
    ]


def _console() -> Console:
    """typer.rich_utils._get_rich_console, with the same environment switches."""
    width = os.environ.get("TERMINAL_WIDTH")
    force = True if (os.environ.get("GITHUB_ACTIONS") or os.environ.get("FORCE_COLOR")
                     or os.environ.get("PY_COLORS")) else None
    if os.environ.get("_TYPER_FORCE_DISABLE_TERMINAL"):
        force = False
    theme = Theme({"option": "bold cyan", "switch": "bold green",
                   "negative_option": "bold magenta", "negative_switch": "bold red",
                   "types": "bold yellow", "types_sep": "dim", "usage": "yellow"})
    return Console(theme=theme, highlighter=_OptionHighlighter(), color_system="auto",
                   force_terminal=force, width=int(width) if width else None)


def _table(highlight: bool) -> Table:
    return Table(highlight=highlight, show_header=False, expand=True, box=None,
                 show_lines=False, leading=0, border_style=None, row_styles=None,
                 pad_edge=False, padding=(0, 1))


def print_help() -> None:
    hl = _OptionHighlighter()
    console = _console()
    console.print(Padding(hl(Text("Usage: hostsnap [OPTIONS] COMMAND [ARGS]...")), 1),
                  style="bold")
    about = Group(hl(Text.from_markup(ROOT_HELP, style="")))
    console.print(Padding(Align(about, pad=False), (0, 1, 1, 1)))

    options = _table(highlight=True)
    options.add_row(hl(Text("--help")), hl(Text("")), Text(""), Text(""),
                    _TypesHighlighter()(Text("<bool>", style="bold yellow", overflow="fold")),
                    Columns([hl(Text.from_markup("Show this message and exit.", style=""))]))
    console.print(Panel(options, border_style="dim", title="Options", title_align="left"))

    commands = _table(highlight=False)
    commands.add_column(style="bold cyan", no_wrap=True, width=max(map(len, COMMANDS)))
    commands.add_column("Description", justify="left", no_wrap=False, ratio=10)
    for name, (_, short) in COMMANDS.items():
        commands.add_row(Text(name), hl(Text.from_markup(short, style="")))
    console.print(Panel(commands, border_style="dim", title="Commands", title_align="left"))
    console.file.write("\n")  # typer's formatter ends with an empty line
