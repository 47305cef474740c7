"""network: TCP state, TIME_WAIT against the local port range (003)."""

from __future__ import annotations

import asyncio

from collectors.analysis.procfs import parse_int
from collectors.analysis.tcp import parse_port_range, parse_sockstat, parse_tcp_tables
from collectors.base import Artifact, CollectContext, Collector, CollectorResult
from collectors.plugin import Reads

TCP_LIMIT = 32 * 1024 * 1024  # ~200 000 sockets


class NetworkCollector(Collector):
    name = "network"
    description = "TCP states, TIME_WAIT vs ip_local_port_range, top remotes, queues"
    reads = Reads(files=(
        "/proc/net/{tcp,tcp6,sockstat}", "/proc/sys/net/ipv4/{ip_local_port_range,tcp_tw_reuse}",
    ))
    timeout = 8.0

    async def collect(self, ctx: CollectContext, result: CollectorResult) -> None:
        files = await ctx.session.read_files(
            ["/proc/net/tcp", "/proc/net/tcp6"], limit=TCP_LIMIT
        )
        small = await ctx.session.read_files(
            ["/proc/net/sockstat", "/proc/sys/net/ipv4/ip_local_port_range",
             "/proc/sys/net/ipv4/tcp_tw_reuse"]
        )
        tables = [v for v in files.values() if v is not None]
        if not tables:
            result.warnings.append("/proc/net/tcp is not readable")
        for path, data in files.items():
            if data is not None:
                result.artifacts.append(Artifact(f"network/{path.rsplit('/', 1)[1]}", data))
                if len(data) >= TCP_LIMIT:
                    result.warnings.append(f"{path} cut at {TCP_LIMIT} bytes")
        # 60 000 sockets are ~9 MB of text: parsed off the event loop
        summary = await asyncio.to_thread(
            parse_tcp_tables, tables,
            parse_port_range(small["/proc/sys/net/ipv4/ip_local_port_range"]),
        )
        summary.tw_reuse = parse_int(small["/proc/sys/net/ipv4/tcp_tw_reuse"])
        summary.sockstat = parse_sockstat(small["/proc/net/sockstat"])
        result.parsed = summary.model_dump(mode="json")
