"""Fleet and diff are analysis over typed results (collectors/analysis/fleet.py,
diff.py): numbers, process changes without hostsnap's own footprint, standouts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bot.store.views import SnapshotView
from collectors.analysis.diff import diff_snapshots
from collectors.analysis.fleet import summarize
from collectors.analysis.procfs import ProcStatus, own_pids

T0 = datetime(2026, 12, 4, 21, 0, tzinfo=UTC)


def _proc(pid: int, name: str, threads: int) -> dict[str, Any]:
    return {"pid": pid, "name": name, "user": "app", "uid": 1000, "threads": threads}


def _view(sid: str, host: str, *, at: int = 0, threads: int = 100, tw: int = 10,
          top: list[dict[str, Any]] | None = None, own: list[int] | None = None,
          names: dict[str, int] | None = None) -> SnapshotView:
    return SnapshotView(
        id=sid, host=host, host_group="web", status="complete", trigger="cli",
        requested_by="", created_at=T0 + timedelta(seconds=at),
        parsed={"limits": {"visible_threads": threads, "processes": 10, "top": top or [],
                           "own_pids": own or [], "process_names": names or {}},
                "network": {"time_wait": tw, "total": 50, "states": {"ESTABLISHED": 7}},
                "memory": {"mem_total_kb": 1000, "mem_available_kb": 400}})


def test_diff_numbers_and_processes_without_our_own_session() -> None:
    a = _view("aaaaaaaa", "web-1", top=[_proc(10, "java", 300), _proc(50, "sshd", 1),
                                         _proc(51, "sftp-server", 1)], own=[50, 51])
    b = _view("bbbbbbbb", "web-1", at=60, threads=480, tw=900,
              top=[_proc(10, "java", 480), _proc(70, "sshd", 1), _proc(71, "sftp-server", 1)],
              own=[70, 71])
    d = diff_snapshots(b, a)  # given the other way round
    assert (d.older, d.newer, d.seconds_apart) == ("aaaaaaaa", "bbbbbbbb", 60)
    nums = {n.name: (n.before, n.after) for n in d.numbers}
    assert nums == {"threads (visible processes)": (100, 480), "TIME_WAIT": (10, 900)}
    assert [(p.pid, p.name, p.before, p.after) for p in d.processes] == [
        (10, "java", 300, 480)]


def test_fleet_standouts_from_typed_results() -> None:
    views = [_view(f"s000000{i}", f"web-{i}", threads=100 + i, tw=10,
                   names={"java": 1, "nginx": 1}) for i in range(4)]
    views.append(_view("s0000009", "web-9", threads=2500, names={"java": 1}))
    fs = summarize(views)
    row = next(r for r in fs.rows if r.host == "web-9")
    assert (row.threads, row.time_wait, row.mem_used_pct) == (2500, 10, 60.0)
    got = {(s.host, s.what) for s in fs.standouts}
    assert got == {("web-9", "threads"), ("web-9", "process-set")}, fs.standouts


def test_own_pids_climb_to_the_listener_not_past_it() -> None:
    def p(pid: int, name: str, ppid: int) -> ProcStatus:
        return ProcStatus(pid=pid, name=name, ppid=ppid, uid=0, threads=1, state="S",
                          vm_rss_kb=0)

    procs = {q.pid: q for q in [
        p(1, "systemd", 0), p(100, "sshd", 1),  # the listener: the host's
        p(200, "sshd", 100), p(201, "sshd", 200),  # [priv] and user@notty: ours
        p(202, "sftp-server", 201), p(203, "sh", 201),  # ours
        p(300, "sshd", 100), p(301, "sshd", 300), p(302, "bash", 301),  # someone else's
    ]}
    assert sorted(own_pids(202, procs)) == [200, 201, 202, 203]
    # run locally (no sshd above the reader): nothing is ours, hostsnap itself may matter
    assert own_pids(302, {302: p(302, "python3", 1)}) == []
    assert own_pids(302, procs) == []  # someone's login shell under sshd: not ours either
    assert own_pids(None, procs) == []
