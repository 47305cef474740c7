"""`hostsnap collectors`: each collector and everything it may touch on a host,
from the declaration the collectors' sessions enforce (collectors.plugin)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

_KINDS = (("files", "reads"), ("dirs", "lists"), ("writes", "writes"),
          ("sockets", "unix socket"), ("tcp", "tcp"), ("commands", "runs"),
          ("signals", "signal"), ("notes", "note"))


def describe() -> list[dict[str, Any]]:
    from collectors import registry

    return [{"name": c.name, "description": c.description, "timeout": c.timeout,
             "default": c.default, "reads": c.reads.as_dict()}
            for c in registry.COLLECTORS.values()]


def as_text(doc: list[dict[str, Any]]) -> str:
    lines: list[str] = []
    for c in doc:
        on = "on" if c["default"] else "off"
        lines.append(f"{c['name']}  (default {on}, timeout {c['timeout']:g}s)  "
                     f"{c['description']}")
        for kind, verb in _KINDS:
            lines += [f"  {verb:<12} {item}" for item in c["reads"][kind]]
        lines.append("")
    return "\n".join(lines)


def register(app: typer.Typer) -> None:
    @app.command()
    def collectors(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
        """Each collector: what it is for, its timeout, and every file, socket,
        command and signal it may touch (the same declaration its session enforces;
        host labels docker_socket and pprof name further sockets and endpoints)."""
        doc = describe()
        typer.echo(json.dumps(doc, indent=2) if as_json else as_text(doc).rstrip("\n"))
