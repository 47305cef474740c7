"""The import graph of bot/ keeps its layers (README, "Layout"): every import
of every module, including imports inside functions, read with ast.

  interfaces   bot/cli, bot/cli_analyze.py, bot/slack, bot/web, bot/entry, bot/__main__
  root         bot/app (builds the services)
  domains      alerts > snapshots > capture > watch
  core         config, settings, inventory, redact, store, access, metrics,
               ackgate (acks first, for the web server and the Slack bot), dumpinput
  render       pure: views and models, collectors.analysis

No module imports one of a higher layer, interfaces do not import each other,
and the interfaces neither audit nor open the store themselves."""

from __future__ import annotations

import ast
from pathlib import Path

BOT = Path(__file__).resolve().parents[1] / "bot"

#: (layer, rank): higher ranks may import lower ones, never the reverse
LAYERS: dict[str, tuple[str, int]] = {
    **{m: ("core", 0) for m in ("config", "settings", "inventory", "redact", "store",
                                "access", "metrics", "ackgate", "dumpinput")},
    "watch": ("watch", 1), "capture": ("capture", 2), "snapshots": ("snapshots", 3),
    "alerts": ("alerts", 4),
    "app": ("app", 5),
    **{m: (m, 6) for m in ("cli", "slack", "web", "entry", "__main__")},
}
INTERFACES = {"cli", "slack", "web", "entry", "__main__"}
#: what a renderer may import: views and models, nothing that does anything
RENDER_MAY = ("bot.render", "bot.store.views", "bot.alerts.views", "bot.alerts.payloads",
              "bot.access.viewer", "bot.redact", "collectors.analysis")
#: edges between interfaces that are the point of the module: `hostsnap
#: analyze` starts without the CLI's imports (entry), `serve` mounts Slack's
#: events on the web server (slack/serve), `hostsnap serve` runs it, `hostsnap web`
#: serves the pages alone (cli/web)
BETWEEN_INTERFACES = {("entry", "cli"), ("__main__", "entry"), ("slack.serve", "web"),
                      ("cli.serve", "slack.serve"), ("cli.web", "web")}


def _module(p: Path) -> str:
    parts = list(p.relative_to(BOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(tree: ast.AST) -> list[str]:
    out: list[str] = []
    for n in ast.walk(tree):  # every import, also inside functions
        if isinstance(n, ast.Import):
            out += [a.name for a in n.names]
        elif isinstance(n, ast.ImportFrom) and n.module and n.level == 0:
            out += ([f"bot.{a.name}" for a in n.names] if n.module == "bot"
                    else [n.module])
    return out


def _room(module: str) -> str:
    """bot.cli.diff -> cli, bot.cli_analyze -> cli (outside the package: the
    console script runs it without typer), bot.store.views -> store."""
    top = module.split(".")[1] if "." in module else module
    return "cli" if top.startswith("cli_") else top


def _modules() -> dict[str, ast.AST]:
    return {_module(p): ast.parse(p.read_text(), str(p)) for p in sorted(BOT.rglob("*.py"))}


def _short(m: str) -> str:
    return m.removeprefix("bot.")


def _allowed_between(src: str, dst: str) -> bool:
    return any(_short(src).startswith(a) and _short(dst).startswith(b)
               for a, b in BETWEEN_INTERFACES)


def test_every_room_has_a_layer() -> None:
    rooms = {_room(m) for m in _modules() if m != "bot"}
    assert rooms - {"render"} <= set(LAYERS), sorted(rooms - {"render"} - set(LAYERS))


def test_no_module_imports_a_higher_layer() -> None:
    wrong = []
    for src, tree in _modules().items():
        if src == "bot" or _room(src) == "render":
            continue
        mine = LAYERS[_room(src)]
        for dst in _imports(tree):
            if not dst.startswith("bot.") or _room(dst) == "render":
                continue
            theirs = LAYERS[_room(dst)]
            if theirs[1] > mine[1]:
                wrong.append(f"{src} ({mine[0]}) imports {dst} ({theirs[0]})")
    assert not wrong, "\n".join(wrong)


def test_domains_keep_their_order() -> None:
    """Two domains of one rank would be a cycle waiting to happen: each has its own."""
    ranks = [LAYERS[d][1] for d in ("watch", "capture", "snapshots", "alerts")]
    assert ranks == sorted(set(ranks))


def test_interfaces_do_not_import_each_other() -> None:
    wrong = []
    for src, tree in _modules().items():
        if src == "bot" or _room(src) not in INTERFACES:
            continue
        for dst in _imports(tree):
            if (dst.startswith("bot.") and _room(dst) in INTERFACES
                    and _room(dst) != _room(src) and not _allowed_between(src, dst)):
                wrong.append(f"{src} imports {dst}")
    assert not wrong, "\n".join(wrong)


def test_renderers_are_pure() -> None:
    wrong = []
    for src, tree in _modules().items():
        if _room(src) != "render":
            continue
        for dst in _imports(tree):
            if dst.startswith(("bot", "collectors")) and not dst.startswith(RENDER_MAY):
                wrong.append(f"{src} imports {dst}")
    assert not wrong, "\n".join(wrong)


def test_interfaces_neither_audit_nor_open_the_store() -> None:
    """Audit happens in the services (the same rows whichever interface asked);
    the store is built by the composition root."""
    wrong = []
    for src, tree in _modules().items():
        if src == "bot" or _room(src) not in ("cli", "slack"):
            continue
        for n in ast.walk(tree):
            if not isinstance(n, ast.Call):
                continue
            f = n.func
            if isinstance(f, ast.Attribute) and f.attr == "audit":
                wrong.append(f"{src}:{n.lineno} calls .audit()")
            if isinstance(f, ast.Name) and f.id == "Store":
                wrong.append(f"{src}:{n.lineno} builds a Store")
            if (isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name)
                    and f.value.id == "Store"):
                wrong.append(f"{src}:{n.lineno} calls Store.{f.attr}")
    assert not wrong, "\n".join(wrong)


def test_the_checks_see_a_violation(tmp_path: Path) -> None:
    """The reader finds imports inside functions (where lazy imports hide)."""
    tree = ast.parse("def f():\n    from bot.slack.bot import HostsnapBot\n")
    assert _imports(tree) == ["bot.slack.bot"]
    assert LAYERS[_room("bot.slack.bot")][1] > LAYERS[_room("bot.capture.service")][1]
