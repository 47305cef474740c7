"""Runs the collectors of one host concurrently, each under its own timeout.

Each result is handed to `on_result` as soon as its collector ends, so the
caller can store it at once: a later crash or timeout leaves partial evidence.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from collectors import offload
from collectors.analysis.findings import Finding
from collectors.analysis.stage import analyze_collector, cross, typed
from collectors.base import CollectContext, Collector, CollectorResult, Status
from collectors.plugin import UndeclaredAccess, strict
from collectors.transport.base import TransportError

OnEvent = Callable[[str, CollectorResult | None], Awaitable[None]]


async def run_collector(
    collector: Collector, ctx: CollectContext, timeout: float | None = None
) -> CollectorResult:
    """Runs `collector` behind its declaration: an undeclared access fails it
    (and, in strict mode, the caller: tests must not miss one)."""
    result = CollectorResult(collector=collector.name)
    ctx = ctx.for_collector(collector)
    limit = timeout or collector.budget(ctx)
    t0 = time.perf_counter()
    try:
        try:
            await asyncio.wait_for(collector.collect(ctx, result), limit)
        finally:
            result.sync()
        if result.status is Status.OK and result.warnings and not result.parsed:
            result.status = Status.PARTIAL
    except TimeoutError:
        result.status = Status.TIMEOUT
        result.error = f"timed out after {limit:g}s"
    except TransportError as e:
        result.status = Status.FAILED if not result.parsed else Status.PARTIAL
        result.error = str(e)
    except UndeclaredAccess as e:
        if strict():
            raise
        result.status = Status.FAILED if not result.parsed else Status.PARTIAL
        result.error = f"refused: {e}"
    except Exception as e:  # a collector bug must not cost the other evidence
        result.status = Status.FAILED if not result.parsed else Status.PARTIAL
        result.error = f"{type(e).__name__}: {e}"
    if result.status in (Status.TIMEOUT, Status.FAILED) and (result.parsed or result.artifacts):
        result.status = Status.PARTIAL
    result.duration_s = time.perf_counter() - t0
    await _analyze(result, ctx)
    return result


async def _analyze(result: CollectorResult, ctx: CollectContext) -> None:
    """The analysis stage over this result, as soon as it is in (so the stored
    result carries its dump summaries). Dumps are parsed in a worker process
    (collectors.offload: a 3 000-thread dump holds the GIL ~40 ms); a result
    without big raw files is rules over a model, run here at once."""
    if not result.parsed:
        return
    args = (result.collector, result.parsed, result.artifacts, ctx.thresholds)
    try:
        if sum(len(a.data) for a in result.artifacts) < offload.INLINE_BELOW:
            a = analyze_collector(*args)
        else:
            a = await offload.shared().run(analyze_collector, *args)
    except offload.WorkerCrashed as e:  # the evidence is kept; the analysis is not
        result.status = Status.PARTIAL
        result.error = "; ".join(filter(None, [
            result.error, f"analysis failed: {e}; the raw files are saved "
                          "(`hostsnap reanalyze` runs it again)"]))
        return
    except Exception as e:  # a rule bug costs a warning, never the evidence
        result.warnings.append(f"analysis error: {type(e).__name__}: {e}")
        return
    result.findings.extend(a.findings)
    result.warnings.extend(a.warnings)
    if a.result is not None and result.collector in ("jvm", "goroutines"):
        result.typed = a.result  # with the summaries the stage derived
        result.sync()


async def run_collectors(
    ctx: CollectContext,
    collectors: list[type[Collector]],
    on_event: OnEvent | None = None,
    timeouts: dict[str, float] | None = None,
) -> tuple[list[CollectorResult], list[Finding]]:
    """Returns every collector's result and the cross-collector findings."""
    timeouts = timeouts or {}

    async def one(cls: type[Collector]) -> CollectorResult:
        if on_event:
            await on_event(cls.name, None)
        r = await run_collector(cls(), ctx, timeouts.get(cls.name))
        if on_event:
            await on_event(cls.name, r)
        return r

    results = list(await asyncio.gather(*(one(c) for c in collectors)))
    return results, derive_cross_findings(results, ctx)


def derive_cross_findings(results: list[CollectorResult], ctx: CollectContext) -> list[Finding]:
    """The stage's cross-collector rules over the typed results."""
    return cross({r.collector: typed(r.collector, r.parsed) for r in results
                  if r.collector in ("limits", "memory") and r.parsed}, ctx.thresholds)
