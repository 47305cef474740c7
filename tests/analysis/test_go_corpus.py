"""The Go regression corpus (tests/analysis/corpus/go/manifest.json): real dumps of the Go
workload, both forms of one moment, growth series, other builds and processes; every case
in every order it lists, with exactly the findings and numbers the manifest expects."""

from __future__ import annotations

import itertools
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from collectors.analysis.dumps import analyze_dumps, parse_dump
from collectors.analysis.findings import Finding
from collectors.analysis.goroutines import GoroutineDump
from collectors.analysis.gorules import app_func
from collectors.analysis.thresholds import GoroutineThresholds, Thresholds

CORPUS = Path(__file__).parent / "corpus" / "go"
MANIFEST = json.loads((CORPUS / "manifest.json").read_text())
CASES = MANIFEST["cases"]


def _parse(name: str) -> GoroutineDump:
    (d,), _ = parse_dump((CORPUS / name).read_bytes())
    assert isinstance(d, GoroutineDump)
    return d


@pytest.mark.parametrize("name", sorted(MANIFEST["dumps"]))
def test_every_dump_reads_whole(name):
    d = _parse(name)
    assert d.total == MANIFEST["dumps"][name]["goroutines"]
    assert d.format == MANIFEST["dumps"][name]["form"][:7]
    assert not d.truncated and not [w for w in d.warnings if "malformed" in w], d.warnings


def _sites(d: GoroutineDump) -> Counter[str]:
    c: Counter[str] = Counter()
    for g in d.groups():
        c[app_func(g.stack)] += g.count
    return +Counter({k: v for k, v in c.items() if v >= 10})


@pytest.mark.parametrize("stem", ["chanleak-fresh", "chanleak-aged", "mutex-fresh",
                                  "mutex-aged", "pool-fresh", "leakgrow-2"])
def test_both_forms_of_one_moment_count_alike(stem):
    d1, d2 = _parse(f"{stem}.debug1.txt"), _parse(f"{stem}.debug2.txt")
    assert _sites(d1) == _sites(d2) and _sites(d2)
    keys1 = {g.stack.key for g in d1.groups() if g.count >= 10}
    assert keys1 == {g.stack.key for g in d2.groups() if g.count >= 10}


def _matches(f: Finding, e: dict[str, Any]) -> bool:
    if f.rule != e["rule"] or f.severity != e["severity"]:
        return False
    if "subject" in e and f.subject != e["subject"]:
        return False
    if any(f.data.get(k) != v for k, v in e.get("data", {}).items()):
        return False
    if not all(s in f.title for s in e.get("title_has", [])):
        return False
    if any(s in f.title for s in e.get("title_lacks", [])):
        return False
    if "groups" in e:
        return sorted((g["goroutines"] for g in f.data["groups"]), reverse=True) == e["groups"]
    return True


def _orders(case: dict[str, Any]) -> list[tuple[str, ...]]:
    files = case["files"]
    return list(itertools.permutations(files)) if case.get("any_order") else [tuple(files)]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_case(case):
    t = Thresholds(goroutines=GoroutineThresholds(**case.get("thresholds", {})))
    for order in _orders(case):
        a = analyze_dumps([(CORPUS / f).read_bytes() for f in order], t)
        found = list(a.findings)
        shown = [(f.rule, f.severity, f.title, f.data) for f in found]
        assert len(found) == len(case["expect"]), (order, shown)
        for e in case["expect"]:
            hit = next((f for f in found if _matches(f, e)), None)
            assert hit is not None, (order, e, shown)
            found.remove(hit)
        for w in case.get("warnings_have", []):
            if w.startswith("dumps read in the order") and order != tuple(case["files"]):
                continue  # names the dumps by their position in this order
            assert any(w in x for x in a.warnings), (order, w, a.warnings)
        for w in case.get("warnings_lack", []):
            assert not any(w in x for x in a.warnings), (order, w, a.warnings)
