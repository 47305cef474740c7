"""`/snapshot list|show|diff` and the Details, Compare and Raw files buttons:
views through the snapshots use case (audited and redacted there)."""

from __future__ import annotations

import logging

from bot.access.links import Signer, link_url
from bot.render import slack as render
from bot.slack.api import SlackRejected, SlackUnavailable, Upload
from bot.slack.handlers import Handlers
from bot.slack.origin import Origin
from bot.snapshots.service import NoEarlierSnapshot
from bot.store.views import SnapshotView

log = logging.getLogger(__name__)

#: raw files per files_upload_v2 call (files.completeUploadExternal takes a list)
UPLOAD_BATCH = 10


class BrowseHandlers(Handlers):
    """Browsing commands and buttons."""

    _signer: Signer | None = None  # of the pages' links, made at the first click

    async def list_snapshots(self, origin: Origin, host: str | None) -> None:
        items = await self.bot.snapshots.list(host, limit=20)
        visible, hidden = [], 0
        verdicts: dict[str, bool] = {}
        refused = ""
        for s in items:
            if s.host_group not in verdicts:
                d = await self.bot.authz.decide("view", user=origin.user, channel=origin.channel,
                                                group=s.host_group)
                verdicts[s.host_group] = d.allowed
                refused = refused or d.reason
            if verdicts[s.host_group]:
                visible.append(s)
            else:
                hidden += 1
        if hidden and not visible:
            # "No snapshots yet" would be false, and said to the whole channel
            what = f" of {host}" if host else ""
            await self.bot.refuse(origin, f"There are {hidden} snapshots{what} you may not "
                                          f"see. {refused}", "authz", target=host or "list")
            return
        await self.bot.reply(origin, render.list_message(visible, host, hidden))

    async def show(self, origin: Origin, sid: str) -> None:
        """The snapshot's summary (with its buttons) where asked, details in its thread."""
        view = await self.bot.snapshot(origin, sid)
        if view is None:
            return
        await self.bot.snapshots.show(origin.viewer, view)
        browser = bool(self.bot.settings.web.base_url)
        if browser:  # its dumps parsed for the explorer before the click
            self.bot.snapshots.warm_dumps(view)
        ts = await self.bot.reply(origin, render.summary_message(view, browser=browser))
        root = origin.thread_ts or ts
        if root and self.bot.slack.details_in_thread:
            await self._details_to(origin, root, view)

    async def open_in_browser(self, origin: Origin, sid: str) -> None:
        """Open in browser: the clicking user's own signed link, told to them only,
        once they may see the snapshot (the page checks their rights again)."""
        web = self.bot.settings.web
        if not web.base_url:
            await self.bot.tell(origin, "The pages are not served here ([web].base_url "
                                        "is not set).")
            return
        view = await self.bot.snapshot(origin, sid)  # refused (and audited) if not allowed
        if view is None:
            return
        if self._signer is None:
            self._signer = Signer(web.secret())  # checked at start-up by `serve`
        url = link_url(web.base_url, self._signer, view.id, origin.user, origin.channel,
                       web.link_ttl)
        await self.bot.journal.asked(origin.actor, "web_link", view.host, snapshot_id=view.id,
                                     channel=origin.channel, ttl=web.link_ttl)
        # only the clicking user sees it (it signs them in); the link is markup
        await self.bot.api.ephemeral(origin.channel, origin.user,
                                     render.browser_link_text(view, url, web.link_ttl),
                                     thread_ts=origin.thread_ts,
                                     response_url=origin.response_url, mrkdwn=True)

    async def details(self, origin: Origin, sid: str) -> None:
        view = await self.bot.snapshot(origin, sid)
        if view is None or origin.thread_ts is None:
            return
        await self.bot.snapshots.show(origin.viewer, view)
        await self._details_to(origin, origin.thread_ts, view)

    async def _details_to(self, origin: Origin, root: str, view: SnapshotView) -> None:
        try:
            await self.bot.delivery.post_details(origin.channel, root, view)
        except (SlackUnavailable, SlackRejected) as e:
            log.warning("details of %s not posted: %s", view.id, e)

    async def diff(self, origin: Origin, a: str, b: str | None) -> None:
        first = await self.bot.snapshot(origin, a)
        if first is None:
            return
        try:
            a_id, b_id = await self.bot.snapshots.pair(first.id, b)
        except NoEarlierSnapshot as e:
            await self.bot.reply(origin, render.snapshot_not_found(
                f"No snapshot of {e.host} before {e.snapshot_id}: nothing to compare with."))
            return
        # each side checked against the user's rights (the first one already is)
        older = first if a_id == first.id else await self.bot.snapshot(origin, a_id)
        newer = first if b_id == first.id else await self.bot.snapshot(origin, b_id)
        if older is None or newer is None:
            return
        d = await self.bot.snapshots.diff(origin.viewer, older, newer)
        await self.bot.reply(origin, render.diff_message(d))

    async def raw_files(self, origin: Origin, sid: str) -> None:
        view = await self.bot.snapshot(origin, sid)
        if view is None:
            return
        if not await self.bot.allowed(origin, "raw", view.host_group, view.host):
            return
        if not view.artifacts:
            await self.bot.tell(origin, f"Snapshot {view.id} has no raw files.")
            return
        uploads: list[Upload] = []
        redactions = 0
        cut: list[str] = []
        for a in view.artifacts:
            f = await self.bot.snapshots.raw(origin.viewer, view, a.name, redact=True,
                                             max_bytes=self.bot.slack.max_upload_bytes)
            if f.cut:
                cut.append(a.name)
            redactions += f.redactions
            uploads.append(Upload(f"{view.id}-{a.name.replace('/', '_')}", f.data,
                                  f"{view.host} {a.name}"))
        comment = render.raw_files_message(view, len(uploads), redactions, cut)
        try:
            for i in range(0, len(uploads), UPLOAD_BATCH):
                await self.bot.api.upload(origin.channel, origin.thread_ts,
                                          uploads[i:i + UPLOAD_BATCH], comment if i == 0 else "")
        except (SlackUnavailable, SlackRejected) as e:
            log.warning("raw files of %s not uploaded: %s", view.id, e)
            await self.bot.tell(origin, f"Could not upload the raw files of {view.id} ({e}).")
