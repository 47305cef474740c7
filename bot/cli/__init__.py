"""The `hostsnap` command line: adapters only (parse, call one use case,
render). program.py names every command; each lives in its own module here
and is imported only when it runs. `app` and `main` are loaded on first use,
so `hostsnap analyze` (bot/entry.py) imports none of the rest."""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name in ("app", "main"):
        from bot.cli import program

        return getattr(program, name)
    raise AttributeError(name)
