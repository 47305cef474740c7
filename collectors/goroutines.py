"""goroutines: Go goroutine dumps from net/http/pprof (incident 004).

`GET <prefix>/goroutine?debug=2` goes through SSH direct-tcpip forwarding: sshd
connects to the endpoint as the host sees it, so a container's address
(10.88.0.3:9090) or the host's own 127.0.0.1 is reached with nothing run on the
host, which is how the dump of 004 was taken (`curl` on the host), minus the curl.
The body is read up to a cap (64 MiB unless set); past it the dump is kept cut
and `debug=1` (aggregated by stack, far smaller) is fetched and analyzed instead.

Endpoints come from the host label `pprof` (["127.0.0.1:6060", "10.88.0.3:9090",
"10.0.0.5:8080/internal/debug/pprof"]) and, unless `pprof_discover = false`, from
the TCP listeners of Go processes (godiscovery.py says how, and its bounds).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import Any

from pydantic import BaseModel

from collectors import http1
from collectors.analysis.results import GoEndpoint, GoroutinesResult
from collectors.base import Artifact, CollectContext, Collector, CollectorResult, Status
from collectors.godiscovery import Endpoint, discover_endpoints, parse_endpoint
from collectors.plugin import Reads
from collectors.procscan import PROCSCAN_READS
from collectors.transport.base import HostSession, TransportError

MiB = 1024 * 1024


class GoroutineOptions(BaseModel):
    #: a debug=2 body beyond this is cut and debug=1 fetched instead (label pprof_max_bytes)
    max_bytes: int = 64 * MiB
    #: one fetch (connect + read); a dump of 100 000 goroutines takes a few seconds
    fetch_timeout: float = 20.0
    #: look for pprof on the listeners of Go processes (label pprof_discover)
    discover: bool = True
    #: seconds discovery may take before the labelled endpoints go on alone
    discover_timeout: float = 4.0
    #: endpoints fetched at once
    parallel: int = 4
    #: a discovered listener that sends within this long is not HTTP: not probed
    banner_wait: float = 0.25


def _opts(ctx: CollectContext) -> GoroutineOptions:
    o = ctx.options.get("goroutines")
    opts = o if isinstance(o, GoroutineOptions) else GoroutineOptions.model_validate(o or {})
    update: dict[str, Any] = {}
    labels = ctx.host.labels
    if isinstance(labels.get("pprof_max_bytes"), int) and labels["pprof_max_bytes"] > 0:
        update["max_bytes"] = labels["pprof_max_bytes"]
    if isinstance(labels.get("pprof_discover"), bool):
        update["discover"] = labels["pprof_discover"]
    return opts.model_copy(update=update) if update else opts


def labelled_endpoints(labels: dict[str, Any]) -> tuple[list[Endpoint], list[str]]:
    raw = labels.get("pprof", [])
    items = [raw] if isinstance(raw, str) else raw if isinstance(raw, list) else []
    out: list[Endpoint] = []
    bad: list[str] = []
    for item in items:
        ep = parse_endpoint(item) if isinstance(item, str) else None
        if ep is None:
            bad.append(f"pprof label entry {item!r} is not host:port[/path]")
        elif ep.key not in {e.key for e in out}:
            out.append(ep)
    return out, bad


async def _speaks_first(reader: http1.StreamReader, wait: float) -> bool:
    """True when the peer sends before being asked (NATS, SMTP, MySQL...): not an
    HTTP server, so it is left alone instead of being sent a request it would log
    as garbage. HTTP servers wait for the request."""
    try:
        await asyncio.wait_for(reader.read(1), wait)  # a byte, or EOF: either way not HTTP
    except TimeoutError:
        return False
    return True


async def fetch(session: HostSession, ep: Endpoint, debug: int, max_bytes: int,
                timeout: float, banner_wait: float = 0.0) -> http1.Response:
    """The dump, or as much of it as came within `timeout` (marked truncated).
    With `banner_wait`, a peer that talks first is closed without a request."""
    target = f"{ep.prefix}/goroutine?debug={debug}"
    end = time.monotonic() + timeout
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await session.open_tcp(ep.host, ep.port)
            if banner_wait and await _speaks_first(reader, banner_wait):
                writer.close()
                raise http1.HTTPError("it speaks first (or closed at once): not HTTP, not probed")
    except TimeoutError as e:
        raise TimeoutError(f"cannot connect to {ep.address} within {timeout:.1f}s") from e
    try:
        return await http1.request(reader, writer, "GET", target, host=ep.address,
                                   max_body=max_bytes, timeout=max(0.1, end - time.monotonic()))
    except TimeoutError as e:
        # measured: a Go runtime that cannot start a thread (its host or cgroup at the
        # pids ceiling, few idle threads of its own) accepts and never answers
        raise TimeoutError(f"connected, but no response within {timeout:.1f}s (a Go service "
                           f"that cannot start a thread, at a pids or threads ceiling, "
                           f"hangs like this)") from e


class GoroutinesCollector(Collector):
    name = "goroutines"
    description = "Go goroutine dumps (pprof debug=2) through SSH forwarding; mutex pile-ups"
    reads = PROCSCAN_READS | Reads(
        files=("/proc/<pid>/{exe,ns/net,net/tcp,net/tcp6,net/fib_trie}", "/proc/<pid>/fd/*"),
        dirs=("/proc/<pid>/fd",),
        tcp=("*:*",),
        notes=("tcp: the host label pprof's endpoints, and (unless pprof_discover = false) "
               "the listeners of Go processes found in /proc/<pid>/net/tcp; forwarded: "
               "GET /debug/pprof/goroutine?debug=2 (debug=1 past the size cap)",
               "/proc/<pid>/exe: its first 8 KiB (is it a Go binary)"),
    )

    def declared(self, ctx: CollectContext) -> Reads:
        if _opts(ctx).discover:
            return self.reads
        # no discovery: the labelled endpoints, and nothing else, over TCP
        eps, _ = labelled_endpoints(ctx.host.labels)
        return replace(self.reads, files=(), dirs=(),
                       tcp=tuple(f"{e.host}:{e.port}" for e in eps))
    timeout = 49.0  # the defaults of budget() below

    def budget(self, ctx: CollectContext) -> float:
        """Discovery, then a debug=2 and maybe a debug=1 fetch; fetches that start
        late get what is left (collect's deadline), so the runner's limit comes last."""
        opts = _opts(ctx)
        return opts.discover_timeout + 2 * opts.fetch_timeout + 5

    async def collect(self, ctx: CollectContext, result: CollectorResult) -> None:
        opts = _opts(ctx)
        deadline = time.monotonic() + self.budget(ctx) - 3
        endpoints, bad = labelled_endpoints(ctx.host.labels)
        result.warnings.extend(bad)
        notes: list[str] = []
        if opts.discover:
            try:
                found, notes = await asyncio.wait_for(
                    discover_endpoints(ctx), opts.discover_timeout)
            except TimeoutError:
                found = []
                result.warnings.append(f"discovery of Go listeners stopped after "
                                       f"{opts.discover_timeout:g}s; labelled endpoints only")
            for ep in found:
                same = next((e for e in endpoints if e.key == ep.key), None)
                if same is not None:  # a labelled endpoint: name its process
                    same.pid, same.process = ep.pid, ep.process
                else:
                    endpoints.append(ep)
        res = GoroutinesResult(endpoints=[], discovery=notes)
        result.typed = res
        if not endpoints:
            result.status = Status.SKIPPED
            result.error = ("no pprof endpoint: none labelled (host label pprof = "
                            "[\"ip:port\"]) and none found on Go processes' listeners")
            return
        sem = asyncio.Semaphore(max(1, opts.parallel))

        async def one(ep: Endpoint) -> None:
            async with sem:
                await self._endpoint(ctx, ep, opts, deadline, res, result)

        await asyncio.gather(*(one(ep) for ep in endpoints))
        rows = res.endpoints
        dumped = [r for r in rows if r.format]
        if not dumped and all(r.source != "label" for r in rows):
            # only discovered listeners, none of them pprof: not applicable, not a failure
            result.status = Status.SKIPPED
            result.error = f"no pprof on the {len(rows)} listener(s) of Go processes"
        elif not dumped:
            # nothing to show but the reasons: FAILED (the runner calls any parsed
            # result partial), with the discovery notes kept as warnings
            result.status = Status.FAILED
            result.error = "; ".join(f"{r.endpoint}: {r.error}" for r in rows)
            result.warnings.extend(notes)
            result.typed, result.parsed = None, {}
        elif any(r.error for r in rows if r.source == "label") or any(
                r.truncated for r in dumped):
            result.status = Status.PARTIAL

    async def _endpoint(self, ctx: CollectContext, ep: Endpoint, opts: GoroutineOptions,
                        deadline: float, res: GoroutinesResult, result: CollectorResult
                        ) -> None:
        row = GoEndpoint(endpoint=ep.address, path=ep.prefix, source=ep.source,
                         pid=ep.pid, process=ep.process)
        res.endpoints.append(row)

        def time_left() -> float:
            return min(opts.fetch_timeout, deadline - time.monotonic())

        if time_left() < 1:
            row.error = "not fetched: the collector's time was used up by other endpoints"
            self._failed(ep, row, result)
            return
        t0 = time.perf_counter()
        try:
            # discovered listeners may not be HTTP at all: look before talking
            banner = opts.banner_wait if ep.source == "discovered" else 0.0
            r = await fetch(ctx.session, ep, 2, opts.max_bytes, time_left(), banner)
            if r.status == 200 and r.truncated_by == "size":
                # too big to take whole: keep the head as evidence, analyze debug=1
                result.artifacts.append(Artifact(
                    f"goroutines/{ep.slug}.debug2.txt", r.body,
                    meta={"endpoint": ep.address, "truncated": r.truncated_reason}))
                result.warnings.append(f"{ep.address}: debug=2 {r.truncated_reason}; "
                                       f"analyzed debug=1 (aggregated stacks)")
                row.debug2_truncated = r.truncated_reason
                r = await fetch(ctx.session, ep, 1, opts.max_bytes, max(0.5, time_left()))
                debug = 1
            else:
                debug = 2
        except TimeoutError as e:
            row.error = str(e) or f"no answer within {time.perf_counter() - t0:.1f}s"
            self._failed(ep, row, result)
            return
        except (TransportError, http1.HTTPError, OSError) as e:
            row.error = str(e)
            self._failed(ep, row, result)
            return
        row.seconds = round(time.perf_counter() - t0, 3)
        if r.status != 200:
            row.error = f"HTTP {r.status} {r.reason}".strip() + (
                " (no net/http/pprof here)" if r.status == 404 else "")
            self._failed(ep, row, result)
            return
        row.format, row.bytes, row.truncated = f"debug={debug}", len(r.body), r.truncated
        result.artifacts.append(Artifact(
            f"goroutines/{ep.slug}.debug{debug}.txt", r.body,
            meta={"endpoint": ep.address, "pid": ep.pid, "process": ep.process,
                  "truncated": r.truncated_reason}))
        if r.truncated:
            result.warnings.append(f"{ep.address}: {r.truncated_reason}")
        # its summary and findings: the analysis stage, from the raw dump

    @staticmethod
    def _failed(ep: Endpoint, row: GoEndpoint, result: CollectorResult) -> None:
        # a discovered listener that is not pprof is expected; a labelled one is a problem
        if ep.source == "label":
            result.warnings.append(f"{ep.address}: {row.error}")
