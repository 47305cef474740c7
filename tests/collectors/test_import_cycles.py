"""No two modules of collectors/ import each other, not even for annotations
(the SSH target lives in transport/target.py, read by ssh.py and hostkeys.py)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in (ROOT / "collectors").rglob("*.py"):
        mod = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        deps = graph.setdefault(mod, set())
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                deps.add(node.module)
            elif isinstance(node, ast.Import):
                deps.update(a.name for a in node.names)
    return graph


def test_no_module_of_collectors_is_in_an_import_cycle() -> None:
    graph = _graph()
    cycles = []
    for start in sorted(graph):  # depth-first from each module, bounded by the graph's size
        stack, seen = [(start, (start,))], set()
        while stack:
            mod, path = stack.pop()
            for dep in graph.get(mod, ()):
                if dep == start:
                    cycles.append(" -> ".join((*path, start)))
                elif dep in graph and dep not in seen:
                    seen.add(dep)
                    stack.append((dep, (*path, dep)))
    assert not cycles, "\n".join(sorted(set(cycles)))
