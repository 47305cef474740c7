"""docker: containers through the Engine API on the host's docker.sock (incident 001).

The socket is reached with SSH stream-local forwarding: sshd connects to it itself,
so nothing is started on the host (no `docker` CLI, which forks and needs the
daemon's goodwill). Podman's compatible socket works the same way; the host label
`docker_socket` names it (default /var/run/docker.sock). One request per forwarded
channel: GET /_ping and /containers/json?all=1, then, concurrently, inspect for
each container and one-shot stats for the running ones, each request bounded in
time and bytes. What arrives is kept as it arrives, so a slow daemon still leaves
the listing and the containers answered so far.
"""

from __future__ import annotations

import asyncio
import posixpath
import re
from typing import Any

from pydantic import BaseModel

from collectors import http1
from collectors.analysis.containers import ContainersSummary, summarize
from collectors.base import Artifact, CollectContext, Collector, CollectorResult, Status
from collectors.plugin import Reads
from collectors.transport.base import HostSession, PathGone, TransportError

DEFAULT_SOCKET = "/var/run/docker.sock"
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")
_ID = re.compile(r"[0-9a-f]{12,64}")


class DockerOptions(BaseModel):
    socket: str = DEFAULT_SOCKET
    #: containers inspected (running first, then the most recently created)
    max_containers: int = 100
    #: requests in flight at once (each is one forwarded channel)
    parallel: int = 8
    request_timeout: float = 5.0
    list_max_bytes: int = 8 * 1024 * 1024
    inspect_max_bytes: int = 2 * 1024 * 1024
    stats_max_bytes: int = 256 * 1024
    #: seconds left for inspect + stats after the listing
    budget: float = 12.0


def _opts(ctx: CollectContext) -> DockerOptions:
    o = ctx.options.get("docker")
    opts = o if isinstance(o, DockerOptions) else DockerOptions.model_validate(o or {})
    label = ctx.host.labels.get("docker_socket")
    if isinstance(label, str) and label:
        opts = opts.model_copy(update={"socket": label})
    return opts


class EngineError(Exception):
    """The daemon answered, but not with what was asked (status, JSON, size)."""


class EngineClient:
    """GET requests to the Engine API, one forwarded stream each."""

    def __init__(self, session: HostSession, path: str, timeout: float) -> None:
        self.session = session
        self.path = path
        self.timeout = timeout

    async def get(self, target: str, max_body: int) -> http1.Response:
        async with asyncio.timeout(self.timeout):
            try:
                reader, writer = await self.session.open_unix(self.path)
            except OSError as e:  # LocalSession: a plain connect() error
                raise TransportError(f"{self.session.name}: cannot connect to {self.path}: "
                                     f"{e.strerror or e}") from e
            except TransportError as e:
                # sshd does not tell why: a dead daemon, or a user not allowed on
                # the socket (the docker group), or forwarding disabled in sshd
                raise TransportError(f"{e} (is the daemon running, may the SSH user use "
                                     f"the socket, is AllowStreamLocalForwarding on?)") from e
            try:
                return await http1.request(reader, writer, "GET", target, host="docker",
                                           max_body=max_body)
            except (http1.HTTPError, OSError) as e:
                raise EngineError(f"GET {target}: {e}") from e

    async def get_json(self, target: str, max_body: int) -> tuple[Any, bytes]:
        r = await self.get(target, max_body)
        if r.status != 200:
            raise EngineError(f"GET {target}: HTTP {r.status} {r.body[:200]!r}")
        if r.truncated:
            raise EngineError(f"GET {target}: {r.truncated_reason}")
        try:
            return r.json(), r.body
        except ValueError as e:
            raise EngineError(f"GET {target}: not JSON ({e})") from e


async def socket_absent(session: HostSession, path: str) -> bool:
    """True only when the parent directory lists and the socket is not in it;
    listing is fork-free (SFTP) and needs no access to the socket itself. An
    unreadable parent proves nothing: then the connection attempt decides."""
    parent, leaf = posixpath.split(path)
    try:
        return leaf not in await session.listdir(parent or "/")
    except PathGone:
        return False


class DockerCollector(Collector):
    name = "docker"
    description = "containers via the Engine API: limits, pids and memory vs limit, OOM kills"
    reads = Reads(
        dirs=("/var/run",), sockets=(DEFAULT_SOCKET,),
        notes=("the socket forwarded (host label docker_socket names another; its directory "
               "is listed first); requests: GET /_ping, /containers/json?all=1, "
               "/containers/{id}/json, /containers/{id}/stats?stream=false&one-shot=true",),
    )

    def declared(self, ctx: CollectContext) -> Reads:
        sock = _opts(ctx).socket
        return self.reads | Reads(sockets=(sock,), dirs=(posixpath.dirname(sock) or "/",))
    timeout = 19.0  # the defaults of budget() below

    def budget(self, ctx: CollectContext) -> float:
        """Listing, then inspect/stats within their own budget: the runner's limit
        comes after both, so a slow daemon yields partial evidence, not a timeout."""
        opts = _opts(ctx)
        return opts.request_timeout + opts.budget + 2

    async def collect(self, ctx: CollectContext, result: CollectorResult) -> None:
        opts = _opts(ctx)
        if not posixpath.isabs(opts.socket):
            raise ValueError(f"docker_socket must be an absolute path, not {opts.socket!r}")
        if await socket_absent(ctx.session, opts.socket):
            result.status = Status.SKIPPED
            result.error = (f"no Engine API socket at {opts.socket} (docker not installed "
                            f"here? for podman set the host label docker_socket)")
            return
        api = EngineClient(ctx.session, opts.socket, opts.request_timeout)
        try:
            # /_ping, not /version: podman answers /version by running conmon and
            # runc --version, i.e. forks, which a dying host cannot afford
            ping, (listing, lraw) = await asyncio.gather(
                api.get("/_ping", 1024),
                api.get_json("/containers/json?all=1", opts.list_max_bytes),
            )
        except (EngineError, TimeoutError) as e:
            # the socket is there and the daemon does not answer: incident 001 itself
            raise TransportError(f"the daemon on {opts.socket} did not answer: "
                                 f"{str(e) or 'timed out'}") from e
        result.artifacts.append(Artifact("docker/containers.json", lraw, "application/json"))
        if not isinstance(listing, list):
            raise TransportError(f"GET /containers/json: expected a list, got {type(listing)}")
        # ids go into request paths: only what a daemon really sends
        listing = [c for c in listing if isinstance(c, dict)
                   and isinstance(c.get("Id"), str) and _ID.fullmatch(c["Id"])]

        inspects: dict[str, dict[str, Any]] = {}
        stats: dict[str, dict[str, Any]] = {}

        def publish() -> ContainersSummary:
            s = summarize(listing, inspects, stats, socket=opts.socket,
                          ping_headers=ping.headers)
            result.parsed = s.model_dump(mode="json")
            return s

        publish()  # the listing alone, should the rest not finish in time
        chosen = _choose(listing, opts.max_containers)
        if len(chosen) < len(listing):
            result.warnings.append(f"{len(listing)} containers listed, {len(chosen)} inspected "
                                   f"(max_containers)")
        await self._details(api, opts, chosen, inspects, stats, result)
        publish()

    async def _details(self, api: EngineClient, opts: DockerOptions,
                       chosen: list[dict[str, Any]], inspects: dict[str, dict[str, Any]],
                       stats: dict[str, dict[str, Any]], result: CollectorResult) -> None:
        sem = asyncio.Semaphore(max(1, opts.parallel))
        gone: list[str] = []
        failed: list[str] = []

        async def one(c: dict[str, Any], kind: str) -> None:
            cid, name = c["Id"], _display_name(c)
            if kind == "inspect":
                target, limit = f"/containers/{cid}/json", opts.inspect_max_bytes
            else:
                target = f"/containers/{cid}/stats?stream=false&one-shot=true"
                limit = opts.stats_max_bytes
            async with sem:
                try:
                    doc, raw = await api.get_json(target, limit)
                except EngineError as e:
                    (gone if "HTTP 404" in str(e) else failed).append(f"{kind} {name}: {e}")
                    return
                except TransportError as e:  # a channel refused midway
                    failed.append(f"{kind} {name}: {e}")
                    return
                except TimeoutError:
                    failed.append(f"{kind} {name}: no answer within {opts.request_timeout:g}s")
                    return
            if isinstance(doc, dict):
                (inspects if kind == "inspect" else stats)[cid] = doc
                result.artifacts.append(Artifact(
                    f"docker/{kind}/{_SAFE.sub('_', name)}.json", raw, "application/json",
                    meta={"id": cid[:12], "name": name}))

        jobs = [one(c, "inspect") for c in chosen]
        jobs += [one(c, "stats") for c in chosen if c.get("State") == "running"]
        tasks = [asyncio.ensure_future(j) for j in jobs]
        try:
            _, pending = await asyncio.wait(tasks, timeout=opts.budget)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        if pending:
            result.warnings.append(f"{len(pending)} of {len(tasks)} inspect/stats requests "
                                   f"unanswered after {opts.budget:g}s; shown without them")
        if gone:
            result.warnings.append(f"{len(gone)} containers removed while being read")
        if failed:
            result.warnings.append(f"{len(failed)} requests failed: " + "; ".join(failed[:5]))
        if pending or failed:
            result.status = Status.PARTIAL


def _display_name(c: dict[str, Any]) -> str:
    names = [n for n in c.get("Names") or [] if isinstance(n, str)]
    return names[0].lstrip("/") if names else str(c.get("Id", ""))[:12]


def _choose(listing: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """Running containers first, then the most recently created: an OOM-killed
    container that exited a minute ago matters, one from last year does not."""
    def key(c: dict[str, Any]) -> tuple[bool, int]:
        created = c.get("Created")
        return c.get("State") != "running", -(created if isinstance(created, int) else 0)

    return sorted(listing, key=key)[:limit]
