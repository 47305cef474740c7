"""Block Kit rendering: what the channel shows, within Slack's limits."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.render import slack as r
from bot.store.views import ArtifactView, CollectorView, SnapshotSummary, SnapshotView
from collectors.analysis.findings import CodeBlock, Finding, Severity, TableBlock, TextBlock
from tests.fakeslack import check_blocks
from tests.fakeslack.server import block_texts

NOW = datetime(2026, 11, 23, 3, 14, 15, tzinfo=UTC)


def ceiling(n: int = 1, cmdline: str = "java -jar app.jar") -> Finding:
    return Finding(
        rule="THREAD_CEILING", severity=Severity.CRITICAL, subject=f"cgroup /app{n}",
        title=f"cgroup /app{n}: 4 090 of pids.max 4 096 — top: java pid 811 (app) 3 990 threads",
        hint="every process in this cgroup fails to fork at pids.max",
        evidence=[TableBlock(headers=["pid", "threads", "command line"],
                             rows=[["811", "3 990", cmdline]])],
    )


def view(status: str = "complete", findings: list[Finding] | None = None,
         **kw: object) -> SnapshotView:
    fl = findings if findings is not None else [ceiling()]
    base: dict[str, object] = dict(
        id="k7m2qx9d", host="web-03", host_group="payments", status=status, trigger="slack",
        requested_by="slack:U1", created_at=NOW, duration_s=0.41, findings=len(fl),
        critical=sum(f.severity is Severity.CRITICAL for f in fl),
        headline=fl[0].title if fl else "", finding_list=fl,
        collectors=[CollectorView(name="limits", status="ok", duration_s=0.2),
                    CollectorView(name="network", status="timeout",
                                  error="timed out after 10s", duration_s=10)],
        artifacts=[ArtifactView(name="threads.tsv", collector="limits", size=1234,
                                stored_size=300, sha256="ab" * 32)],
    )
    base.update(kw)
    return SnapshotView.model_validate(base)


def text_of(msg: r.Message) -> str:
    return msg.text + "\n" + "\n".join(block_texts(msg.blocks))


def test_summary_shows_findings_id_saved_and_buttons() -> None:
    msg = r.summary_message(view(status="partial"), requested_by="U1")
    t = text_of(msg)
    assert "*web-03* — snapshot `k7m2qx9d` · partial in 0.41s" in t
    assert "*THREAD_CEILING* cgroup /app1: 4 090 of pids.max 4 096" in t
    # network timed out: the evidence is not all there (issue 16: no "safe to restart")
    assert "safe to restart" not in t
    assert "Evidence incomplete — hold the restart if you can" in t
    assert "missing: network — timeout: timed out after 10s" in t
    assert "requested by <@U1>" in t
    buttons = [b for blk in msg.blocks if blk["type"] == "actions" for b in blk["elements"]]
    assert [(b["text"]["text"], b["action_id"], b["value"]) for b in buttons] == [
        ("Details", r.DETAILS, "k7m2qx9d"), ("Capture again", r.CAPTURE_AGAIN, "k7m2qx9d"),
        ("Compare with previous", r.COMPARE, "k7m2qx9d"), ("Raw files", r.RAW_FILES, "k7m2qx9d")]
    assert msg.text.startswith("web-03: snapshot k7m2qx9d partial, 1 findings — THREAD_CEILING")
    assert check_blocks(msg.blocks) is None


def test_failed_capture_never_says_safe_to_restart() -> None:
    msg = r.summary_message(view(status="failed", findings=[], collectors=[],
                                 error="web-03: connection refused"))
    t = text_of(msg)
    assert "Could not capture *web-03*: web-03: connection refused" in t
    assert "safe to restart" not in t
    assert "Nothing was saved" in t


def test_interrupted_says_so_and_keeps_what_was_saved() -> None:
    msg = r.summary_message(view(status="interrupted",
                                 error="capture interrupted (hostsnap restarted)"))
    t = text_of(msg)
    assert "was interrupted (capture interrupted (hostsnap restarted))" in t
    # limits finished before the restart, network did not: not safe (issue 16)
    assert "safe to restart" not in t
    assert "missing: network — timeout: timed out after 10s" in t


def test_complete_says_safe_to_restart() -> None:
    t = text_of(r.summary_message(view(collectors=[
        CollectorView(name="limits", status="ok"), CollectorView(name="jvm", status="skipped",
                                                                 error="no JVM")])))
    assert "Evidence saved — safe to restart." in t and "missing" not in t


def test_top_findings_only_in_channel_rest_in_thread() -> None:
    many = [ceiling(i) for i in range(12)]
    msg = r.summary_message(view(findings=many))
    assert "+7 more findings in the thread" in text_of(msg)
    assert sum("THREAD_CEILING" in x for x in block_texts(msg.blocks)) == r.TOP_FINDINGS
    pages = r.details_messages(view(findings=many))
    assert sum(text_of(p).count("*THREAD_CEILING*") for p in pages) == 12


def test_long_content_is_split_within_limits() -> None:
    dump = "\n".join(f'"pool-{i}-thread-1" #{i} prio=5 waiting on <0x{i:08x}>'
                     for i in range(4000))
    f = ceiling()
    f.evidence.append(CodeBlock(title="jstack", text=dump))
    f.evidence.append(TextBlock(text="x" * 7000))
    pages = r.details_messages(view(findings=[f] * 3))
    assert len(pages) > 1
    for p in pages:
        assert check_blocks(p.blocks) is None, check_blocks(p.blocks)
    body = "".join(text_of(p) for p in pages)
    # nothing is lost in the split: every line of the dump is there
    assert body.count('"pool-3999-thread-1"') == 3
    assert all(p.text.startswith("Details of snapshot k7m2qx9d (web-03) (") for p in pages)
    assert len(pages) > r.MAX_DETAIL_MESSAGES  # the bot sends a file instead (e2e test)
    assert "pool-3999-thread-1" in r.details_text(view(findings=[f]))


def test_secrets_and_mrkdwn_in_evidence_are_neutralized() -> None:
    f = ceiling(cmdline="java -Ddb.password=hunter2 -jar <@channel>.jar")
    msgs = r.details_messages(view(findings=[f]))
    t = "".join(text_of(m) for m in msgs)
    assert "hunter2" not in t
    assert "[REDACTED]" in t
    assert "<@channel>" not in t and "&lt;@channel&gt;" in t
    assert "hunter2" not in r.details_text(view(findings=[f]))


def test_progress_message() -> None:
    msg = r.progress_message("web-03", {"limits": "ok", "memory": "running",
                                        "network": "waiting"},
                             snapshot_id="k7m2qx9d", requested_by="U1")
    t = text_of(msg)
    assert msg.text == "Capturing web-03 — hold the restart"
    assert ":white_check_mark: limits ok · :hourglass: memory running · " \
           ":white_circle: network waiting" in t
    assert "snapshot `k7m2qx9d` · requested by <@U1>" in t
    assert check_blocks(msg.blocks) is None


def test_list_has_an_open_button_per_snapshot() -> None:
    items = [SnapshotSummary(id=f"abcd{i}xyz"[:8], host="web-03", status="complete",
                             trigger="slack", requested_by="U1", created_at=NOW, findings=2,
                             critical=1, headline="4 090 of pids.max") for i in range(2, 9)]
    msg = r.list_message(items, "web-03", hidden=2)
    opens = [b["accessory"] for b in msg.blocks if "accessory" in b]
    assert [o["value"] for o in opens] == [i.id for i in items]
    assert all(o["action_id"].startswith(r.OPEN) for o in opens)
    assert len({o["action_id"] for o in opens}) == len(opens)
    t = text_of(msg)
    assert "*Snapshots of web-03*" in t and "2 findings (1 critical)" in t
    assert "2 snapshots of hosts you may not browse are not shown" in t
    assert check_blocks(msg.blocks) is None
    many = r.list_message(items * 10)
    assert len(many.blocks) <= r.MAX_BLOCKS
    assert "No snapshots of web-03 yet — `/snapshot web-03` takes one." in text_of(
        r.list_message([], "web-03"))


def test_chunks_never_exceed_the_limit() -> None:
    text = "short\n" + "y" * 7000 + "\n" + "\n".join(["z" * 100] * 100)
    parts = r.chunks(text, 3000)
    assert all(len(x) <= 3000 for x in parts)
    assert "".join(parts).replace("\n", "") == text.replace("\n", "")


def test_diff_fits_one_message() -> None:
    from collectors.analysis.diff import DumpChange, NumberDelta, SnapshotDiff
    from collectors.analysis.dumps import CountDelta, DumpDiff, GroupDelta

    dd = DumpDiff(kind="jvm", total_before=600, total_after=30000, delta=29400, states=[],
                  pools=[CountDelta(name="Connection evictor", before=1, after=29401,
                                    delta=29400)],
                  appeared=[GroupDelta(key="k", state="TIMED_WAITING", before=0, after=29400,
                                       delta=29400, top_frame="IdleConnectionEvictor.run")],
                  vanished=[], changed=[])
    d = SnapshotDiff(older="a2b3c4d5", newer="e6f7g8h9", host_older="web-03",
                     host_newer="web-03", seconds_apart=600,
                     numbers=[NumberDelta(name="TIME_WAIT", before=100, after=60000)],
                     findings_new=["HTTPCLIENT_EVICTOR_LEAK: 29 401 evictor threads"],
                     dumps=[DumpChange(subject=f"java pid {i}", diff=dd) for i in range(80)])
    msg = r.diff_message(d)
    assert check_blocks(msg.blocks) is None
    t = text_of(msg)
    assert "*Compare* web-03 `a2b3c4d5` → web-03 `e6f7g8h9` (600s apart)" in t
    assert "TIME_WAIT  100     60 000  +59 900" in t
    assert ":new: HTTPCLIENT_EVICTOR_LEAK: 29 401 evictor threads" in t
    assert "java pid 0: 600 → 30 000 (+29400)" in t
    assert "Connection evictor  1       29 401  +29 400" in t
    assert "appeared: 29400 × [TIMED_WAITING] IdleConnectionEvictor.run" in t
    assert "`hostsnap diff a2b3c4d5 e6f7g8h9` shows it all" in t


def test_warm_session_holders_read_as_people_say_them() -> None:
    from bot.render.slack_watch import holder_text

    assert holder_text("slack:U1") == "<@U1>"
    assert holder_text("alert:4f2a9c01") == "an alert"  # holders carry the fingerprint
    assert holder_text("config") == "the config ([watch] hosts)"
    assert holder_text("watch") == "`hostsnap watch`"
