"""The analysis stage: typed collector results and raw artifacts in, findings
out. Pure (no I/O, no asyncio), so it runs the same at capture time and over a
stored snapshot (`reanalyze`), where an improved rule or parser helps last
week's incident: JVM and Go findings come from re-parsing the raw dumps.

A new collector's rules go in RULES below (one line) and bump RULES_VERSION.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel

from collectors.analysis.containers import ContainersSummary, container_findings
from collectors.analysis.findings import Finding
from collectors.analysis.hostmodels import LimitsSummary, MemorySummary, NetworkSummary
from collectors.analysis.hostrules import (
    cross_findings,
    limits_findings,
    memory_findings,
    merge_amended,
    network_findings,
)
from collectors.analysis.results import GoroutinesResult, JvmResult
from collectors.analysis.thresholds import Thresholds

#: bumped whenever a rule or parser changes what findings a snapshot yields;
#: recorded on every finding set ("0": sets stored before finding sets existed)
RULES_VERSION = "2"  # 2: MEMORY_FREE_THREADS_EXHAUSTED merged into THREAD_CEILING

#: the typed result of each collector, as stored
RESULT_MODELS: dict[str, type[BaseModel]] = {
    "limits": LimitsSummary, "memory": MemorySummary, "network": NetworkSummary,
    "docker": ContainersSummary, "jvm": JvmResult, "goroutines": GoroutinesResult,
}


class Raw(Protocol):
    """A raw artifact as the stage reads it (collectors.base.Artifact, RawFile)."""

    @property
    def name(self) -> str: ...
    @property
    def data(self) -> bytes: ...
    @property
    def meta(self) -> Mapping[str, Any]: ...


@dataclass(frozen=True, slots=True)
class RawFile:
    """A raw artifact read back from the store."""

    name: str
    data: bytes
    meta: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class Analysis:
    """One collector's findings, warnings, and its result with the dump
    summaries the stage derived (JVM and Go)."""

    findings: list[Finding] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    result: BaseModel | None = None


@dataclass
class Evidence:
    """What the store keeps of a snapshot: typed results and raw files, by collector."""

    results: dict[str, BaseModel] = field(default_factory=dict)
    artifacts: dict[str, list[RawFile]] = field(default_factory=dict)


def typed(collector: str, parsed: Mapping[str, Any] | BaseModel | None) -> BaseModel | None:
    """A stored/parsed result as its model; None when absent or unknown."""
    if parsed is None or isinstance(parsed, BaseModel):
        return parsed
    model = RESULT_MODELS.get(collector)
    if model is None or not parsed:
        return None
    return model.model_validate(parsed)


def _limits(r: Any, files: Sequence[Raw], t: Thresholds) -> Analysis:
    return Analysis(limits_findings(r, t.host), result=r)


def _memory(r: Any, files: Sequence[Raw], t: Thresholds) -> Analysis:
    return Analysis(memory_findings(r, t.host), result=r)


def _network(r: Any, files: Sequence[Raw], t: Thresholds) -> Analysis:
    return Analysis(network_findings(r, t.host), result=r)


def _docker(r: Any, files: Sequence[Raw], t: Thresholds) -> Analysis:
    return Analysis(container_findings(r, t.containers), result=r)


_JVM_DUMP = re.compile(r"^jvm/(\d+)-dump(\d+)\.txt$")


def _jvm(r: Any, files: Sequence[Raw], t: Thresholds) -> Analysis:
    res: JvmResult = r.model_copy(deep=True)
    out = Analysis(result=res)
    by_pid: dict[int, list[tuple[int, bytes]]] = {}
    for f in files:
        m = _JVM_DUMP.match(f.name)
        if m:
            by_pid.setdefault(int(m[1]), []).append((int(m[2]), f.data))
    for j in res.jvms:
        dumps = [d for _, d in sorted(by_pid.get(j.pid, []))]
        if not dumps:
            continue  # raw dumps not kept: the stored summary stays as it is
        # the dump parsers (~20 ms to import) only when there is a dump
        from collectors.analysis.dumps import analyze_dumps

        a = analyze_dumps(dumps, t, kind="jstack")
        j.summary = a.dumps[-1] if a.dumps else {}
        for fd in a.findings:
            fd.subject = fd.subject or f"pid {j.pid}"
            fd.data.setdefault("pid", j.pid)
        out.findings += a.findings
        out.warnings += [f"pid {j.pid}: {w}" for w in a.warnings]
    return out


def _goroutines(r: Any, files: Sequence[Raw], t: Thresholds) -> Analysis:
    res: GoroutinesResult = r.model_copy(deep=True)
    out = Analysis(result=res)
    for ep in res.endpoints:
        if not ep.format:
            continue
        leaf = "." + ep.format.replace("=", "") + ".txt"  # debug=2 -> .debug2.txt
        raw = next((f for f in files if f.name.endswith(leaf)
                    and f.meta.get("endpoint") == ep.endpoint
                    and (f.meta.get("pid") == ep.pid or "pid" not in f.meta)), None)
        if raw is None:
            continue
        from collectors.analysis.dumps import analyze_dumps

        a = analyze_dumps([raw.data], t, kind=ep.format)
        ep.summary = a.dumps[0] if a.dumps else {}
        out.warnings += [f"{ep.endpoint}: {w}" for w in a.warnings]
        for fd in a.findings:
            fd.title = f"{ep.display}: {fd.title}"
            fd.data["endpoint"] = ep.endpoint
            if ep.pid:
                fd.data["pid"] = ep.pid
            out.findings.append(fd)
    return out


Rule = Callable[[Any, Sequence[Raw], Thresholds], Analysis]
#: per-collector rules, by collector name
RULES: dict[str, Rule] = {
    "limits": _limits, "memory": _memory, "network": _network, "docker": _docker,
    "jvm": _jvm, "goroutines": _goroutines,
}


def analyze_collector(collector: str, result: Mapping[str, Any] | BaseModel | None,
                      files: Sequence[Raw], thresholds: Thresholds) -> Analysis:
    """One collector's rules; its findings name it."""
    r = typed(collector, result)
    rule = RULES.get(collector)
    if r is None or rule is None:
        return Analysis(result=r)
    a = rule(r, files, thresholds)
    for f in a.findings:
        f.collector = f.collector or collector
    return a


def cross(results: Mapping[str, BaseModel | None], thresholds: Thresholds) -> list[Finding]:
    """Rules over several collectors: today the THREAD_CEILING amended with
    "memory is free" (it replaces the limits finding of the same subject:
    `merge_amended`)."""
    limits, memory = results.get("limits"), results.get("memory")
    out = cross_findings(limits if isinstance(limits, LimitsSummary) else None,
                         memory if isinstance(memory, MemorySummary) else None, thresholds.host)
    for f in out:
        f.collector = "limits" if f.rule == "THREAD_CEILING" else "snapshot"
    return out


def analyze(evidence: Evidence, thresholds: Thresholds | None = None) -> list[Finding]:
    """Every rule over one snapshot's evidence: per collector, then across."""
    t = thresholds or Thresholds()
    findings: list[Finding] = []
    for name, result in evidence.results.items():
        findings += analyze_collector(name, result, evidence.artifacts.get(name, []),
                                      t).findings
    return merge_amended(findings, cross(evidence.results, t))


def reanalyze(evidence: Evidence, thresholds: Thresholds | None = None) -> list[Finding]:
    """Today's rules over a stored snapshot (its raw dumps parsed anew)."""
    return analyze(evidence, thresholds)
