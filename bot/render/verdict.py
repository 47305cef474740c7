"""The verdict on a stored snapshot: may the responder restart now?

One pure function of the view, used by every renderer (terminal, Slack, web),
so no surface can say "safe to restart" while another names what is missing.
Safe only when every collector the capture expected (recorded on the snapshot
at its start) reported and completed: `ok`, or `skipped` (not applicable to
this host). Anything else is named with its reason, including collectors that
never reported at all (the process died mid-capture: they have no row).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # annotations only: `hostsnap analyze` imports the terminal renderer
    from bot.store.views import SnapshotView

SAFE = "Evidence saved — safe to restart."
#: in the error of a capture whose host could not fork a session (collectors/transport/ssh.py)
CANNOT_START = "accepts connections but cannot start a session"
UNSAFE = "Evidence incomplete — hold the restart if you can."
NOTHING = "Nothing was saved — hold the restart if you can."
TRY = "Still worth trying before a restart:"
DONE_STATUSES = ("ok", "skipped")
Surface = Literal["cli", "slack", "web"]


@dataclass(frozen=True)
class Missing:
    collector: str
    why: str  # "timeout: timed out after 10s", "never reported: the capture was interrupted"


@dataclass(frozen=True)
class Verdict:
    safe: bool
    headline: str
    missing: list[Missing] = field(default_factory=list)
    host: str = ""
    #: pids of JVMs seen on the host (for a manual `kill -QUIT`), when known
    jvm_pids: list[int] = field(default_factory=list)
    running: bool = False
    #: the host took the TCP connection but could not start a session (sshd
    #: could not fork): capturing again cannot work until threads are freed
    cannot_start_session: bool = False

    def advice(self, surface: Surface = "cli") -> list[str]:
        """What is still worth trying before a restart (empty when safe)."""
        if self.safe or self.running:
            return []
        h = self.host
        again, watch = ((f"`/snapshot {h}`", f"`/snapshot watch {h}`") if surface == "slack"
                        else (f"`hostsnap snapshot {h}`", f"`hostsnap watch {h}`"))
        out = [f"capture again: {again}",
               f"keep a session open so a capture still works when logins fail: {watch}"]
        if any(m.collector == "jvm" for m in self.missing) or not self.missing:
            pids = " ".join(str(p) for p in self.jvm_pids[:5]) or "PID"
            out.append(f"on the host, `kill -QUIT {pids}` of the JVM: it writes its thread "
                       "dump to its stdout log (keep that log)")
        return out


def _why_absent(v: SnapshotView) -> str:
    if v.status == "interrupted":
        return "never reported: the capture was interrupted"
    if v.status == "failed":  # its error is shown once, beside the verdict
        return "never ran: the capture failed"
    if v.status == "running":
        return "not reported yet: the capture is running"
    return "never reported"


def _jvm_pids(v: SnapshotView) -> list[int]:
    from collectors.analysis.hostmodels import LimitsSummary
    from collectors.analysis.results import JvmResult
    from collectors.analysis.stored import result

    jvm, limits = result(v, "jvm", JvmResult), result(v, "limits", LimitsSummary)
    pids = [j.pid for j in jvm.jvms] if jvm else []
    java = [p.pid for p in limits.top if p.name == "java"] if limits else []
    return list(dict.fromkeys([*pids, *java]))


def expected_collectors(v: SnapshotView) -> list[str]:
    """What the capture meant to run (recorded at its start); for snapshots
    older than that record, the collectors that reported."""
    exp = v.summary.get("expected")
    if isinstance(exp, list) and exp:
        return [str(x) for x in exp]
    return [c.name for c in v.collectors]


def verdict(v: SnapshotView) -> Verdict:
    ran = {c.name: c for c in v.collectors}
    missing: list[Missing] = []
    for c in v.collectors:
        if c.status not in DONE_STATUSES:
            missing.append(Missing(c.name, f"{c.status}: {c.error}" if c.error else c.status))
    for name in expected_collectors(v):
        if name not in ran:
            missing.append(Missing(name, _why_absent(v)))
    running = v.status == "running"
    safe = (not missing and bool(v.collectors)
            and v.status in ("complete", "partial", "interrupted"))
    if safe:
        headline = SAFE
    elif running:
        headline = "Capture still running — hold the restart."
    elif not v.collectors:
        headline = NOTHING
    else:
        headline = UNSAFE
    return Verdict(safe=safe, headline=headline, missing=missing, host=v.host,
                   jvm_pids=_jvm_pids(v), running=running,
                   cannot_start_session=CANNOT_START in (v.error or ""))
