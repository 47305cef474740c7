"""All collectors, by name. A new collector is one file plus one line here."""

from __future__ import annotations

from collectors.base import Collector
from collectors.docker import DockerCollector
from collectors.goroutines import GoroutinesCollector
from collectors.jvm import JvmCollector
from collectors.limits import LimitsCollector
from collectors.memory import MemoryCollector
from collectors.network import NetworkCollector

COLLECTORS: dict[str, type[Collector]] = {
    c.name: c for c in (LimitsCollector, MemoryCollector, NetworkCollector, JvmCollector,
                        DockerCollector, GoroutinesCollector)
}


def default_names() -> list[str]:
    return [n for n, c in COLLECTORS.items() if c.default]


def resolve(names: list[str] | None) -> list[type[Collector]]:
    if not names:
        return [COLLECTORS[n] for n in default_names()]
    unknown = [n for n in names if n not in COLLECTORS]
    if unknown:
        raise ValueError(
            f"unknown collector {', '.join(unknown)}; known: {', '.join(COLLECTORS)}"
        )
    return [COLLECTORS[n] for n in dict.fromkeys(names)]
