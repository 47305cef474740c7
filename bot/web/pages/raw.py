"""`/s/<id>/raw/<name>`: one raw file, redacted, as text in a page; with
`?download=1` the redacted file itself, for those with the raw_files right.
Only names in the snapshot's own list are served: whatever else is asked
for (`../`, another snapshot's file, a prefix) is a 404."""

from __future__ import annotations

import re

from aiohttp import web

from bot.web.pages.guard import viewer
from bot.web.pages.render import error, page
from bot.web.pages.snapshot import find
from bot.web.pages.state import db, pages

#: bytes of a file shown in the page; the download has it whole
SHOW_BYTES = 2_000_000


def routes() -> list[web.RouteDef]:
    return [web.get("/s/{sid}/raw/{name:.+}", raw)]


def download_name(snapshot_id: str, name: str) -> str:
    """A file name no browser reads as a path or a header (letters, digits, . _ -)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", f"{snapshot_id}-{name}")[:200]


async def raw(request: web.Request) -> web.StreamResponse:
    view = await find(request, request.match_info["sid"])
    name = request.match_info["name"]
    download = request.query.get("download") == "1"
    who = await viewer(request, view.host, "raw" if download else "view",
                       group=view.host_group)
    meta = next((a for a in view.artifacts if a.name == name), None)
    if meta is None:
        raise error(request, 404, "No such file",
                    f"Snapshot {view.id} has no raw file named {name[:200]}.")
    snapshots = pages(request).core.snapshots
    if download:
        f = await db(request, snapshots.raw(who, view, meta.name, redact=True))  # audited
        return web.Response(body=f.data, headers={
            "Content-Type": "application/octet-stream",
            "Content-Disposition": f'attachment; filename="{download_name(view.id, name)}"',
            "X-Redactions": str(f.redactions)})
    f = await db(request, snapshots.raw(who, view, meta.name, redact=True,
                                        max_bytes=SHOW_BYTES))
    return page(request, "raw.html", v=view, meta=meta, text=f.data.decode(errors="replace"),
                redactions=f.redactions, cut=f.cut, shown=SHOW_BYTES)
