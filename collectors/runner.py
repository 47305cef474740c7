"""Runs the collectors of one host concurrently, each under its own timeout.

Each result is handed to `on_result` as soon as its collector ends, so the
caller can store it at once: a later crash or timeout leaves partial evidence.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from collectors.analysis.findings import Finding
from collectors.analysis.hostmodels import LimitsSummary, MemorySummary
from collectors.analysis.hostrules import cross_findings
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
        await asyncio.wait_for(collector.collect(ctx, result), limit)
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
    for f in result.findings:
        f.collector = f.collector or collector.name
    result.duration_s = time.perf_counter() - t0
    return result


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
    parsed = {r.collector: r.parsed for r in results if r.parsed}
    limits = LimitsSummary.model_validate(parsed["limits"]) if "limits" in parsed else None
    memory = MemorySummary.model_validate(parsed["memory"]) if "memory" in parsed else None
    out = cross_findings(limits, memory, ctx.thresholds.host)
    for f in out:
        f.collector = "snapshot"
    return out
