"""`hostsnap analyze FILE...`: findings from thread dumps and goroutine dumps on disk.

Several files of one process (dumps taken a few seconds apart) turn on the cross-dump
rules. Exit codes: 0 no critical finding, 1 a critical finding, 2 bad input.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

from bot.render.text import json_dumps, safe_text, text
from collectors.analysis.dumps import DumpAnalysis, analyze_dumps, detect_format
from collectors.analysis.dumptext import prepare


def _dump_line(i: int, s: dict[str, Any]) -> Text:
    unit = "goroutines" if s.get("kind") == "go" else "threads"
    states = ", ".join(f"{k} {v}" for k, v in list(s.get("states", {}).items())[:6])
    pools = ", ".join(f"{k} {v}" for k, v in list(s.get("pools", {}).items())[:4])
    who = f" pid {s['pid']}" if s.get("pid") else ""
    # dump-derived (state and pool names): as Text, control characters made visible
    line = text(f"dump {i}: {s.get('format', '?')}{who}, {s.get('threads', 0)} {unit}",
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


def _read(paths: list[str], stdin: bool) -> tuple[list[bytes], list[str]]:
    names = list(paths)
    if stdin and "-" not in names:
        names.append("-")
    datas = []
    for name in names:
        if name == "-":
            datas.append(sys.stdin.buffer.read())
            continue
        try:
            datas.append(Path(name).read_bytes())
        except OSError as e:
            raise _BadInput(f"cannot read {name}: {e.strerror or e}") from None
    return datas, names


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
    ) -> None:
        """Analyze JVM thread dumps or Go goroutine dumps and print the findings."""
        err = Console(stderr=True, soft_wrap=True)
        try:
            if not files and not stdin:
                raise _BadInput("no input: give dump files, or - / --stdin")
            datas, names = _read(files or [], stdin)
            for name, data in zip(names, datas, strict=True):
                if detect_format(prepare(data)[0]) is None:
                    shown = "stdin" if name == "-" else name
                    raise _BadInput(f"{shown}: not a JVM thread dump nor a Go goroutine dump")
        except _BadInput as e:
            err.print(text(f"hostsnap analyze: {e}"))
            raise typer.Exit(2) from None
        result = analyze_dumps(datas)
        if json_out:
            typer.echo(json_dumps(result.model_dump(mode="json"), indent=2, ensure_ascii=False))
        else:
            render(Console(highlight=False), result)
        raise typer.Exit(1 if result.critical else 0)
