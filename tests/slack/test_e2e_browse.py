"""Browsing: buttons on the summary, /snapshot list|show|diff, and the same
words as @hostsnap mentions in threads; all answered where the user looks."""

from __future__ import annotations

from bot.settings.slack import AuthzRule
from bot.store.service import Store
from collectors.analysis.findings import CodeBlock, Finding, Severity
from collectors.base import Artifact, CollectorResult, Status
from tests.fakeslack import FakeSlack
from tests.slack.conftest import summary_of


async def seed(store: Store, host: str = "web-03", group: str = "payments",
               dump_lines: int = 10, threads: int = 31412) -> str:
    """A stored snapshot as a capture of `host` would leave it, with secrets in
    its raw files."""
    sid = await store.create_snapshot(host, group=group, trigger="slack", requested_by="U9")
    dump = "\n".join(f'"Connection evictor" #{i} daemon waiting on <0x{i:04x}>'
                     for i in range(dump_lines))
    await store.add_result(sid, CollectorResult(
        "limits", Status.OK, parsed={"visible_threads": threads},
        artifacts=[
            Artifact("threads.tsv", b"pid\tthreads\tcmdline\n811\t3990\tjava "
                                    b"-Ddb.password=hunter2 -jar app.jar\n"),
            Artifact("proc/811/environ", b"HOME=/srv\x00API_TOKEN=xoxb-12345678-abcdefgh\x00"),
        ],
        findings=[Finding(rule="HTTPCLIENT_EVICTOR_LEAK", severity=Severity.CRITICAL,
                          title="30 000 'Connection evictor' threads in java pid 811",
                          hint="build one HttpClient, not one per request",
                          evidence=[CodeBlock(title="stacks", text=dump)])]))
    await store.finish_snapshot(sid)
    return sid


async def test_buttons_on_a_capture_summary(bot, fake: FakeSlack) -> None:
    await fake.command("localhost")
    msg, sid = await summary_of(fake)
    await bot.idle()
    n_thread = len(fake.replies("C1", msg.ts))

    # Details: the details again, in the summary's thread
    await fake.click(msg, "Details", user="U2")
    await bot.idle()
    replies = fake.replies("C1", msg.ts)
    assert len(replies) == 2 * n_thread
    assert f"Details of snapshot `{sid}`" in replies[-1].all_text

    # Raw files: uploaded in the thread with files_upload_v2, redacted
    await fake.click(msg, "Raw files", user="U2")
    await bot.idle()
    files = fake.files_in("C1", msg.ts)
    view = await bot.store.get_snapshot(sid)
    assert sorted(f.filename for f in files) == sorted(
        f"{sid}-{a.name.replace('/', '_')}" for a in view.artifacts)
    assert files[0].comment.startswith(f"Raw files of snapshot {sid} (localhost)")
    for method in ("files.getUploadURLExternal", "files.completeUploadExternal"):
        assert fake.calls_of(method)
    assert len(await bot.store.audit_events(action="view_raw")) == len(view.artifacts)

    # Compare with previous: there is none yet
    await fake.click(msg, "Compare with previous")
    await bot.idle()
    assert f"No snapshot of localhost before {sid}" in fake.replies("C1", msg.ts)[-1].all_text

    # Capture again: a new capture, announced at the top of the channel
    await fake.click(msg, "Capture again", user="U3")
    await bot.idle()
    tops = fake.top_level()
    assert len(tops) == 2
    assert "requested by <@U3>" in tops[1].all_text
    new_sid = (await bot.store.list_snapshots("localhost"))[0].id
    assert new_sid != sid and f"snapshot `{new_sid}`" in tops[1].all_text

    # now Compare on the new one finds the old one
    await fake.click(tops[1], "Compare with previous")
    await bot.idle()
    reply = fake.replies("C1", tops[1].ts)[-1].all_text
    assert f"*Compare* localhost `{sid}` → localhost `{new_sid}`" in reply


async def test_raw_files_are_redacted_and_need_the_right(bot_factory, fake: FakeSlack,
                                                        store: Store) -> None:
    sid = await seed(store)
    bot = await bot_factory(authz=[AuthzRule(groups=["*"], channels=["*"], user_groups=["U1"]),
                                   AuthzRule(groups=["*"], channels=["*"], user_groups=["UROOT"], raw_files=True)])
    await fake.command(f"show {sid}", user="U1")
    await bot.idle()
    (msg,) = fake.top_level()
    assert "HTTPCLIENT_EVICTOR_LEAK" in msg.all_text

    await fake.click(msg, "Raw files", user="U1")
    await bot.idle()
    assert fake.ephemerals_for("U1")[-1].startswith("You may not see raw files of group "
                                                   "`payments`")
    assert not fake.files

    await fake.click(msg, "Raw files", user="UROOT")
    await bot.idle()
    files = {f.filename: f.content for f in fake.files_in("C1", msg.ts)}
    assert set(files) == {f"{sid}-threads.tsv", f"{sid}-proc_811_environ"}
    assert b"hunter2" not in files[f"{sid}-threads.tsv"]
    assert b"-Ddb.password=[REDACTED] -jar app.jar" in files[f"{sid}-threads.tsv"]
    assert files[f"{sid}-proc_811_environ"] == b"HOME=/srv\x00API_TOKEN=[REDACTED]\x00"
    (f,) = {f.comment for f in fake.files_in("C1", msg.ts)}
    assert f == f"Raw files of snapshot {sid} (web-03): 2 files, 2 secrets redacted."


async def test_list_then_open_in_thread(bot, fake: FakeSlack, store: Store) -> None:
    old = await seed(store)
    new = await seed(store)
    other = await seed(store, host="db-01", group="db")
    await fake.command("list web-03")
    await bot.idle()
    (listing,) = fake.top_level()
    assert [b["value"] for b in listing.buttons()] == [new, old]
    assert other not in listing.all_text

    await fake.click(listing, "Open")  # the first Open: the newest
    await bot.idle()
    thread = fake.replies("C1", listing.ts)
    assert f"*web-03* — snapshot `{new}`" in thread[0].all_text
    assert "30 000 'Connection evictor' threads in java pid 811" in thread[0].all_text
    assert any(f"Details of snapshot `{new}`" in m.all_text for m in thread[1:])
    assert not fake.top_level()[1:], "opening a snapshot must stay in the thread"


async def test_list_hides_groups_the_user_may_not_browse(bot_factory, fake: FakeSlack,
                                                         store: Store) -> None:
    await seed(store)
    db = await seed(store, host="db-01", group="db")
    bot = await bot_factory(authz=[AuthzRule(channels=["*"], user_groups=["*"], groups=["db"])])
    await fake.command("list")
    await bot.idle()
    (listing,) = fake.top_level()
    assert [b["value"] for b in listing.buttons()] == [db]
    assert "1 snapshots of hosts you may not browse are not shown" in listing.all_text


async def test_mentions_in_a_thread(bot, fake: FakeSlack, store: Store) -> None:
    prev = await seed(store, threads=600)
    sid = await seed(store, threads=30000)  # incident 002: 600 -> 30 000 threads
    await fake.command(f"show {sid}")
    await bot.idle()
    (root,) = fake.top_level()
    before = len(fake.replies("C1", root.ts))

    ack, _ = await fake.mention(f"show {prev[:5]}", user="U2", thread_ts=root.ts)
    assert ack.status == 200
    await bot.idle()
    thread = fake.replies("C1", root.ts)
    bot_replies = [m for m in thread if m.user != "U2"][before:]
    assert f"snapshot `{prev}`" in bot_replies[0].all_text
    assert len(fake.top_level()) == 1, "a mention in a thread is answered in that thread"

    await fake.mention("list", thread_ts=root.ts)
    await fake.mention("help", thread_ts=root.ts)
    await fake.mention(f"diff {sid} {prev}", thread_ts=root.ts)  # either order
    await fake.mention("show nope!", user="U7", thread_ts=root.ts)
    await bot.idle()
    texts = [m.all_text for m in fake.replies("C1", root.ts) if m.user == "UHOSTSNAP"]
    assert any("*Snapshots of" in t or "*Latest snapshots*" in t for t in texts)
    assert not any("`/snapshot list [HOST]`" in t for t in texts)  # help: to the asker only
    assert any(e["thread_ts"] == root.ts and "`/snapshot list [HOST]`" in e["text"]
               for e in fake.ephemerals if e["user"] == "U1")
    (cmp,) = [t for t in texts if "*Compare*" in t]
    assert f"*Compare* web-03 `{prev}` → web-03 `{sid}`" in cmp
    assert "threads (visible processes)  600     30 000  +29 400" in cmp
    (e,) = [e for e in fake.ephemerals if e["user"] == "U7"]
    assert e["thread_ts"] == root.ts and "shell command" in e["text"]
    assert len(fake.top_level()) == 1


async def test_mention_outside_a_thread_answers_in_its_thread(bot, fake: FakeSlack) -> None:
    _, said = await fake.mention("localhost", user="U5")
    _, sid = await summary_of(fake, thread_ts=said.ts)
    await bot.idle()
    assert not fake.top_level(), "the capture is reported in the mention's thread"
    view = await bot.store.get_snapshot(sid)
    assert view.requested_by == "slack:U5"


async def test_a_redelivered_event_is_answered_once(bot, fake: FakeSlack) -> None:
    _, m = await fake.mention("localhost")
    body = fake.events[-1]
    assert (await fake.redeliver(body, retry_num=1)).status == 200
    assert (await fake.redeliver(body, retry_num=None)).status == 200  # same event_id
    await summary_of(fake, thread_ts=m.ts)
    await bot.idle()
    assert await bot.store.count_snapshots() == 1
    assert len([r for r in fake.replies("C1", m.ts) if "— snapshot" in r.all_text]) == 1


async def test_long_details_go_up_as_a_file(bot, fake: FakeSlack, store: Store) -> None:
    sid = await seed(store, dump_lines=20_000)
    await fake.command(f"show {sid}")
    await bot.idle()
    (root,) = fake.top_level()
    thread = fake.replies("C1", root.ts)
    assert len(thread) == 1
    assert "would take" in thread[0].all_text and "in the file below" in thread[0].all_text
    (f,) = fake.files_in("C1", root.ts)
    assert f.filename == f"hostsnap-{sid}-details.txt"
    assert b'"Connection evictor" #19999' in f.content


async def test_capture_again_checks_the_inventory_again(bot, fake: FakeSlack,
                                                        store: Store) -> None:
    sid = await seed(store, host="web-03")  # captured once; no longer in the inventory
    await fake.command(f"show {sid}")
    await bot.idle()
    (msg,) = fake.top_level()
    await fake.click(msg, "Capture again")
    await bot.idle()
    assert "unknown host 'web-03'" in fake.ephemerals_for("U1")[-1]
    assert len(fake.top_level()) == 1 and await store.count_snapshots() == 1


async def test_raw_files_over_the_upload_limit_are_cut(bot_factory, fake: FakeSlack,
                                                        store: Store) -> None:
    sid = await store.create_snapshot("web-03", group="payments", trigger="slack")
    big = b"".join(b"%06d token=s3cr3t%d\n" % (i, i) for i in range(1000))
    await store.add_result(sid, CollectorResult("jvm", Status.OK, parsed={"jvms": []},
                                                artifacts=[Artifact("jvm/811.txt", big)]))
    await store.finish_snapshot(sid)
    bot = await bot_factory(max_upload_bytes=4096)
    await fake.command(f"show {sid}")
    await bot.idle()
    (msg,) = fake.top_level()
    await fake.click(msg, "Raw files")
    await bot.idle()
    (f,) = fake.files_in("C1", msg.ts)
    assert f.content.startswith(b"000000 token=[REDACTED]\n") and b"s3cr3t" not in f.content
    assert f.comment.endswith("cut to the upload limit: jvm/811.txt.")
    (_, stored) = await store.get_artifact(sid, "jvm/811.txt")
    assert stored == big  # the evidence itself is kept whole
