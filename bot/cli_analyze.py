"""`hostsnap analyze FILE...`: findings from thread dumps and goroutine dumps on disk.

Several files of one process (dumps taken a few seconds apart) turn on the cross-dump
rules. Exit codes: 0 no critical finding, 1 a critical finding, 2 bad input.
"""

# No `from __future__ import annotations`: register()'s annotations must be evaluated
# where it imports typer. typer is not imported by `hostsnap analyze` (bot/entry.py runs
# main() below, argparse): building a typer command imports and runs pydantic, before
# the input is read.
import sys
from typing import TYPE_CHECKING, Annotated, Any

from rich.console import Console
from rich.text import Text

from bot.render.text import json_dumps, safe_text, text
from collectors.analysis.dumptext import decode, prepare

if TYPE_CHECKING:
    import typer

    from collectors.analysis.dumps import DumpAnalysis

# collectors.analysis.dumps (the parsers, the rules, pydantic: ~20 MiB) is imported only
# once the input is read and decoded and its bytes are gone: a 30 MB dump's bytes and
# text then never share the peak with it.


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


def render(console: Console, a: "DumpAnalysis") -> None:
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
        from collectors.analysis.dumps import detect_format

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


SUMMARY = "Analyze JVM thread dumps or Go goroutine dumps and print the findings."
FILES_HELP = ("dump files (jstack, jcmd Thread.print, goroutine debug=2/debug=1), also "
              ".gz/.zst/.bz2/.xz and .zip/.tar of dumps; several of one process enable "
              "the between-dumps rules; - reads stdin")
MAX_SIZE_HELP = ("read at most SIZE of dump text in all, after decompression (K, M, G: "
                 "powers of 1024)")


def run(files: list[str], json_out: bool, stdin: bool, max_size: str) -> int:
    """The command; its exit code: 0 no critical finding, 1 a critical one, 2 bad input."""
    err = Console(stderr=True, soft_wrap=True)
    try:
        if not files and not stdin:
            raise _BadInput("no input: give dump files, or - / --stdin")
        datas, names, notes = _read(files, stdin, max_size)
    except _BadInput as e:
        err.print(text(f"hostsnap analyze: {e}"))
        return 2
    from collectors.analysis.dumps import analyze_dumps

    result = analyze_dumps(datas)
    result.warnings[:0] = notes
    if json_out:
        doc = {"inputs": names, **result.model_dump(mode="json")}
        sys.stdout.write(json_dumps(doc, indent=2, ensure_ascii=False) + "\n")
    else:
        render(Console(highlight=False), result)
    return 1 if result.critical else 0


def register(app: "typer.Typer") -> None:
    """`analyze` in the full CLI (bot/cli/program.py lists it); the console script runs
    `main` instead (bot/entry.py), outside the bot/cli package."""
    import typer

    @app.command("analyze", help=SUMMARY)
    def analyze(
        files: Annotated[list[str] | None, typer.Argument(help=FILES_HELP)] = None,
        json_out: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
        stdin: Annotated[bool, typer.Option("--stdin", help="read a dump from stdin")] = False,
        max_size: Annotated[str, typer.Option("--max-size", metavar="SIZE",
                                              help=MAX_SIZE_HELP)] = "256M",
    ) -> None:
        raise typer.Exit(run(files or [], json_out, stdin, max_size))


def main(args: list[str]) -> None:
    """`hostsnap analyze ARGS` as the console script runs it (bot/entry.py): argparse, and
    nothing of the rest of the CLI (store, SSH, Slack, config)."""
    import argparse

    ap = argparse.ArgumentParser(prog="hostsnap analyze", description=SUMMARY)
    ap.add_argument("files", nargs="*", metavar="FILE", help=FILES_HELP)
    ap.add_argument("--json", dest="json_out", action="store_true",
                    help="machine-readable output")
    ap.add_argument("--stdin", action="store_true", help="read a dump from stdin")
    ap.add_argument("--max-size", metavar="SIZE", default="256M",
                    help=MAX_SIZE_HELP + " (default: 256M)")
    ns = ap.parse_args(args)
    sys.exit(run(ns.files, ns.json_out, ns.stdin, ns.max_size))
