"""Thread/goroutine dump entry points: format detection, analyze_dumps, diffs.

The JVM and Go collectors (and `hostsnap analyze`) call analyze_dumps() with raw
bytes; several dumps are successive dumps of one process, which turns on the
cross-dump rules. Summaries (`.summary()`) are JSON-able dicts meant to be stored:
diff_thread_dumps / diff_goroutine_dumps accept either parsed dumps or stored summaries.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, Field

from collectors.analysis.dumptext import prepare
from collectors.analysis.dumptofile import parse_json_dump, parse_text_dump
from collectors.analysis.findings import Finding, sort_findings
from collectors.analysis.goroutines import (
    GoroutineDump,
    carried_time,
    parse_debug1,
    parse_debug2,
)
from collectors.analysis.gorules import go_findings
from collectors.analysis.jstack import ThreadDump, parse_thread_dump
from collectors.analysis.jvmseries import jvm_findings
from collectors.analysis.thresholds import Thresholds

# Format names: what detect_format() returns and what `kind=` accepts.
JSTACK, JCMD, GO_DEBUG2, GO_DEBUG1 = "jstack", "jcmd", "goroutine-debug2", "goroutine-debug1"
_KIND_ALIASES = {
    "jvm": JSTACK, "java": JSTACK, "jstack": JSTACK, "jcmd": JCMD,
    "go": GO_DEBUG2, "goroutine": GO_DEBUG2, "debug=2": GO_DEBUG2, GO_DEBUG2: GO_DEBUG2,
    "debug=1": GO_DEBUG1, GO_DEBUG1: GO_DEBUG1,
}
# JVM formats other than jstack's: Thread.dump_to_file's two forms, the serviceability
# agent's jstack -F. Detected even under kind="jvm"/"jstack" (the kind says "a JVM").
JCMD_JSON, JCMD_TEXT, JSTACK_F = "jcmd-json", "jcmd-text", "jstack-F"
_KIND_ALIASES |= {"json": JCMD_JSON, JCMD_JSON: JCMD_JSON, JCMD_TEXT: JCMD_TEXT,
                  "jstack-f": JSTACK_F}
_DUMP_TO_FILE_TEXT = re.compile(r'\A\s*\d+\n\d{4}-\d\d-\d\dT[^\n]*\n[^\n]*\n\s*\n#\d+ "')
_SA_THREAD = re.compile(r"(?m)^Thread (?:t@)?\d+: \(state = ")
_DEADLOCKS_END = re.compile(r"(?m)^Found (?:\d+|one|a total of \d+) (?:Java-level )?deadlocks?\.")
_JVM_THREAD = re.compile(r'(?m)^"[^"\n]*" (?:#\d+ |daemon |prio=|os_prio=)')
# indented (goconvey); `gp=… m=… mp=…` in Go 1.23+ crash output
_GO_HEADER = re.compile(r"(?m)^[ \t]*goroutine \d+ (?:gp=\S+ m=\S+ (?:mp=\S+ )?)?\[")
_GO_DEBUG1 = re.compile(r"(?m)^(?:goroutine profile: total \d+|\d+ @ 0x[0-9a-f]+)")
_JCMD_PID = re.compile(r"\A\s*\d+:\n")
_FULL_DUMP = re.compile(r"(?m)^Full thread dump ")
_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")

Dump = ThreadDump | GoroutineDump


def detect_format(text: str) -> str | None:
    """jstack / jcmd / goroutine-debug2 / goroutine-debug1, or None. Looks at the head
    of the text first (cheap), then the whole text for a dump inside other output."""
    head = text[:300].lstrip()
    if head.startswith("{") and '"threadDump"' in head:
        return JCMD_JSON
    if _DUMP_TO_FILE_TEXT.match(text):
        return JCMD_TEXT
    for chunk in (text[:65536], text):
        if "Full thread dump " in chunk or _JVM_THREAD.search(chunk):
            return JCMD if _JCMD_PID.match(text) else JSTACK
        if _SA_THREAD.search(chunk):
            return JSTACK_F
        if _GO_DEBUG1.search(chunk):
            return GO_DEBUG1
        if _GO_HEADER.search(chunk):
            return GO_DEBUG2
        if len(text) <= 65536:
            break
    return None


def split_jvm_dumps(text: str) -> list[str]:
    """A JVM's stdout after several SIGQUITs holds several dumps: one text each.

    The stdout of a JVM (a container's log) also holds the application's own lines
    before, between and after the dumps: each dump is cut from its timestamp line to
    its JNI line (or its deadlock report, which jstack prints after that line), so
    they are not taken for damaged dump lines. Lines written between two threads of a
    dump stay (and are counted as unrecognized)."""
    if text.count("Full thread dump ") <= 1:  # C-speed; the usual case
        start = text.find("Full thread dump ")
        if start <= 0 or _JCMD_PID.match(text):
            return [text[: _dump_end(text, start, len(text))] if start == 0 else text]
        a = _dump_start(text, start, first=True)
        b = _dump_end(text, start, len(text))
        return [text[a:b] if a or b < len(text) else text]
    starts = [m.start() for m in _FULL_DUMP.finditer(text)]
    if len(starts) <= 1:
        return [text]
    cuts = [0 if _JCMD_PID.match(text) else _dump_start(text, starts[0], first=True)]
    cuts += [_dump_start(text, s) for s in starts[1:]]
    ends = [*cuts[1:], len(text)]
    return [text[a : _dump_end(text, s, b)] for a, s, b in zip(cuts, starts, ends, strict=True)]


def _dump_start(text: str, start: int, first: bool = False) -> int:
    """Keep the timestamp line the JVM prints just before "Full thread dump". Before
    the first dump, cut only other output: not threads whose head was cut off."""
    if first and (text.startswith('"') or text.rfind('\n"', 0, start) >= 0):
        return 0
    prev = text.rfind("\n", 0, start - 1) + 1
    return prev if start and _TIMESTAMP.fullmatch(text[prev : start - 1]) else start


def _dump_end(text: str, start: int, end: int) -> int:
    """The end of the dump starting at `start`: after its JNI line, or after the
    deadlock report that follows that line; `end` if it has no JNI line (truncated)."""
    j = text.find("\nJNI global", start, end)
    if j < 0:
        return end
    p = text.find("\n", j + 1, end)
    if p < 0:
        return end
    p += 1
    if text[p : p + 200].lstrip("\n").startswith("Found one Java-level deadlock"):
        m = _DEADLOCKS_END.search(text, p, end)
        if m is None:
            return end
        p = text.find("\n", m.end(), end)
        return end if p < 0 else p + 1
    return p


def parse_dump(data: bytes | str, kind: str | None = None) -> tuple[list[Dump], list[str]]:
    """Decode, detect and parse; one input may hold several JVM dumps. Never raises."""
    warnings: list[str] = []
    try:
        text, warnings = prepare(data)
        fmt = _KIND_ALIASES.get(kind.lower(), None) if kind else detect_format(text)
        if kind and fmt is None:
            return [], [f"unknown dump kind {kind!r}"]
        if fmt is None:
            return [], [*warnings, "not a JVM thread dump nor a Go goroutine dump"]
        if fmt == GO_DEBUG1:
            return [parse_debug1(text)], warnings
        if fmt == GO_DEBUG2:
            return [parse_debug2(text)], warnings
        if fmt in (JSTACK, JCMD) and kind:
            detected = detect_format(text)
            fmt = detected if detected in (JCMD_JSON, JCMD_TEXT, JSTACK_F) else fmt
        if fmt == JCMD_JSON:
            return [parse_json_dump(text)], warnings
        if fmt == JCMD_TEXT:
            return [parse_text_dump(text)], warnings
        parsed: list[Dump] = []
        for part in split_jvm_dumps(text):
            d = parse_thread_dump(part)
            if fmt == JCMD and d.source != "jcmd" and not parsed:
                d.source = "jcmd"
            parsed.append(d)
        if len(parsed) > 1:
            warnings.append(f"{len(parsed)} thread dumps found in one input")
        return parsed, warnings
    except Exception as e:  # a parser bug must cost a warning, not the snapshot
        return [], [*warnings, f"parser error: {type(e).__name__}: {e}"]


class DumpAnalysis(BaseModel):
    kind: str = Field(description="jvm, go, or mixed")
    dumps: list[dict[str, Any]] = Field(default_factory=list, description="summary() of each")
    warnings: list[str] = Field(default_factory=list)
    findings: list[Finding] = Field(default_factory=list)

    @property
    def critical(self) -> bool:
        return any(f.severity == "critical" for f in self.findings)


def analyze_dumps(dumps: Sequence[bytes | str], thresholds: Thresholds | None = None, *,
                  kind: str | None = None) -> DumpAnalysis:
    """Parse successive dumps of one process and run the rules over them.

    JVM dumps and goroutine dumps given together are analyzed as two processes."""
    t = thresholds or Thresholds()
    jvm: list[ThreadDump] = []
    jvm_labels: list[str] = []  # "dump 2", "dump 1.3" (the third dump of a SIGQUIT log)
    go: list[GoroutineDump] = []
    warnings: list[str] = []
    for i, data in enumerate(dumps, 1):
        parsed, w = parse_dump(data, kind)
        prefix = f"dump {i}: " if len(dumps) > 1 else ""
        warnings += [prefix + x for x in w]
        for k, d in enumerate(parsed, 1):
            if isinstance(d, ThreadDump):
                jvm.append(d)
                jvm_labels.append(f"dump {i}" + (f".{k}" if len(parsed) > 1 else ""))
            else:
                d.name, d.taken_at = f"dump {i}", carried_time(data)
                go.append(d)
            warnings += [prefix + x for x in d.warnings]
    findings: list[Finding] = []
    try:
        if jvm:
            found, w = jvm_findings(jvm, jvm_labels, t.threads)
            findings += found
            warnings += w
        if go:
            found, w = go_findings([d for d in go if d.total] or go, None, t.goroutines)
            findings += found
            warnings += w
    except Exception as e:  # same contract as the parsers: a warning, never a crash
        warnings.append(f"rule error: {type(e).__name__}: {e}")
    summaries = [d.summary() for d in jvm] + [d.summary() for d in go]
    kind_out = "mixed" if jvm and go else ("jvm" if jvm else ("go" if go else "unknown"))
    return DumpAnalysis(kind=kind_out, dumps=summaries, warnings=warnings,
                        findings=sort_findings(findings))


# --- diffs ---------------------------------------------------------------------------------

class CountDelta(BaseModel):
    name: str
    before: int
    after: int
    delta: int


class GroupDelta(BaseModel):
    key: str
    state: str = ""
    top_frame: str = ""
    before: int
    after: int
    delta: int


class DumpDiff(BaseModel):
    kind: str
    total_before: int
    total_after: int
    delta: int
    states: list[CountDelta]
    pools: list[CountDelta] = Field(description="threads per pool; goroutines per creator")
    appeared: list[GroupDelta] = Field(description="stack groups only in `after`")
    vanished: list[GroupDelta] = Field(description="stack groups only in `before`")
    changed: list[GroupDelta] = Field(description="groups in both whose count changed")
    note: str = ""


def _summary(d: ThreadDump | GoroutineDump | Mapping[str, Any]) -> Mapping[str, Any]:
    return d if isinstance(d, Mapping) else d.summary(top=100, max_pools=10_000)


def _deltas(a: Mapping[str, int], b: Mapping[str, int]) -> list[CountDelta]:
    rows = [CountDelta(name=k, before=a.get(k, 0), after=b.get(k, 0),
                       delta=b.get(k, 0) - a.get(k, 0)) for k in a.keys() | b.keys()]
    return sorted((r for r in rows if r.delta or r.before),
                  key=lambda r: (-abs(r.delta), -r.after, r.name))


def _group_state(g: Mapping[str, Any]) -> str:
    if "state" in g:
        return str(g["state"])
    states: dict[str, int] = dict(g.get("states") or {})
    return max(states, key=lambda k: states[k]) if states else ""


def _diff(kind: str, before: Mapping[str, Any], after: Mapping[str, Any]) -> DumpDiff:
    g0 = {g["key"]: g for g in before.get("groups", [])}
    g1 = {g["key"]: g for g in after.get("groups", [])}

    def gd(key: str, a: int, b: int) -> GroupDelta:
        g = g1.get(key) or g0[key]
        frames = g.get("frames") or [""]
        return GroupDelta(key=key, state=_group_state(g), top_frame=frames[0] if frames else "",
                          before=a, after=b, delta=b - a)

    appeared = [gd(k, 0, g1[k]["count"]) for k in g1.keys() - g0.keys()]
    vanished = [gd(k, g0[k]["count"], 0) for k in g0.keys() - g1.keys()]
    changed = [gd(k, g0[k]["count"], g1[k]["count"]) for k in g0.keys() & g1.keys()
               if g0[k]["count"] != g1[k]["count"]]
    t0, t1 = int(before.get("threads", 0)), int(after.get("threads", 0))
    return DumpDiff(
        kind=kind, total_before=t0, total_after=t1, delta=t1 - t0,
        states=_deltas(before.get("states", {}), after.get("states", {})),
        pools=_deltas(before.get("pools", {}), after.get("pools", {})),
        appeared=sorted(appeared, key=lambda x: -x.after),
        vanished=sorted(vanished, key=lambda x: -x.before),
        changed=sorted(changed, key=lambda x: -abs(x.delta)),
        note="summaries keep only their top stack groups: a group outside them shows as "
             "appeared/vanished",
    )


def diff_thread_dumps(before: ThreadDump | Mapping[str, Any],
                      after: ThreadDump | Mapping[str, Any]) -> DumpDiff:
    """What changed between two JVM dumps (parsed, or their stored summary())."""
    return _diff("jvm", _summary(before), _summary(after))


def diff_goroutine_dumps(before: GoroutineDump | Mapping[str, Any],
                         after: GoroutineDump | Mapping[str, Any]) -> DumpDiff:
    """What changed between two goroutine dumps (parsed, or their stored summary())."""
    return _diff("go", _summary(before), _summary(after))
