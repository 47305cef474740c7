"""`hostsnap analyze FILE...`: findings from thread dumps and goroutine dumps on disk.

Several files of one process (dumps taken a few seconds apart) turn on the cross-dump
rules. Exit codes: 0 no critical finding, 1 a critical finding, 2 bad input.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

from bot.render.text import json_dumps, safe_text, text
from collectors.analysis.dumps import DumpAnalysis, analyze_dumps, detect_format
from collectors.analysis.dumptext import decode, prepare


def _dump_line(i: int, s: dict[str, Any]) -> Text:
    unit = "goroutines" if s.get("kind") == "go" else "threads"
    states = ", ".join(f"{k} {v}" for k, v in list(s.get("states", {}).items())[:6])
    pools = ", ".join(f"{k} {v}" for k, v in list(s.get("pools", {}).items())[:4])
    who = f" pid {s['pid']}" if s.get("pid") else ""
    # dump-derived (state and pool names): as Text, control characters made visible
    virtual = f" ({s['virtual']} virtual)" if s.get("virtual") else ""
    line = text(f"dump {i}: {s.get('format', '?')}{who}, {s.get('threads', 0)} {unit}{virtual}",
                style="bold")
    line.append(safe_text(f" — {states}") if states else "", style="")
    if pools:
        line.append("\n        top: ", style="dim")
        line.append(safe_text(pools), style="dim")
    return line


def render(console: Console, a: DumpAnalysis) -> None:
    from bot.render.terminal import print_findings  # the shared terminal renderer

    for i, s in enumerate(a.dumps, 1):
        console.print(_dump_line(i, s))
    for w in a.warnings:
        console.print(text(f"warning: {w}", style="yellow"))
    console.print()
    print_findings(console, a.findings)


def _read(paths: list[str], stdin: bool, max_size: str) -> tuple[list[str], list[str],
                                                                  list[str]]:
    """The dumps to analyze, their names, and notes on the reading (skipped members...)."""
    from bot.dumpinput import InputError, parse_size, read_inputs

    names = list(paths)
    if stdin and "-" not in names:
        names.append("-")
    try:
        inputs = read_inputs(names, parse_size(max_size))
    except ValueError as e:
        raise _BadInput(f"--max-size: {e}") from None
    except InputError as e:
        raise _BadInput(str(e)) from None
    datas: list[str] = []
    shown, notes = [], list(inputs.notes)
    for i in inputs.items:
        # Decoded once, here: the bytes go before the parsers run (a 30 MB dump costs
        # 30 MB less at the peak), and the parsers' decode() of a str is a no-op.
        text, repaired = decode(i.data)
        i.data = b""
        if detect_format(prepare(text)[0]) is None:
            if i.member:  # a support bundle holds more than dumps
                notes.append(f"{i.name}: skipped (not a dump)")
                continue
            raise _BadInput(f"{i.name}: not a JVM thread dump nor a Go goroutine dump")
        datas.append(text)
        shown.append(i.name)
        notes += [f"{i.name}: {w}" for w in repaired]
    if not datas:
        shown_all = ", ".join("stdin" if n == "-" else n for n in names)
        raise _BadInput(f"{shown_all}: no JVM thread dump nor Go goroutine dump inside")
    return datas, shown, notes


class _BadInput(Exception):
    pass


def register(app: typer.Typer) -> None:
    @app.command("analyze")
    def analyze(
        files: Annotated[list[str] | None, typer.Argument(
            help="dump files (jstack, jcmd Thread.print, goroutine debug=2/debug=1); "
                 "several of one process enable the between-dumps rules; - reads stdin")
        ] = None,
        json_out: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
        stdin: Annotated[bool, typer.Option("--stdin", help="read a dump from stdin")] = False,
        max_size: Annotated[str, typer.Option(
            "--max-size", metavar="SIZE",
            help="read at most SIZE of dump text in all, after decompression "
                 "(K, M, G: powers of 1024)")] = "256M",
    ) -> None:
        """Analyze JVM thread dumps or Go goroutine dumps and print the findings."""
        err = Console(stderr=True, soft_wrap=True)
        try:
            if not files and not stdin:
                raise _BadInput("no input: give dump files, or - / --stdin")
            datas, names, notes = _read(files or [], stdin, max_size)
        except _BadInput as e:
            err.print(text(f"hostsnap analyze: {e}"))
            raise typer.Exit(2) from None
        result = analyze_dumps(datas)
        result.warnings[:0] = notes
        if json_out:
            doc = {"inputs": names, **result.model_dump(mode="json")}
            typer.echo(json_dumps(doc, indent=2, ensure_ascii=False))
        else:
            render(Console(highlight=False), result)
        raise typer.Exit(1 if result.critical else 0)


def main(args: list[str]) -> None:
    """`hostsnap analyze ARGS` without the rest of the CLI (bot/entry.py): no store, SSH,
    Slack or config is imported to read a file."""
    app = typer.Typer(add_completion=False)
    register(app)  # one command: typer runs it as the app itself
    app(args=args, prog_name="hostsnap analyze")
