"""A stored snapshot as analysis reads it (fleet, diff): its typed collector
results, never string keys into the stored JSON. bot.store.views.SnapshotView
is one; analysis does not import the store."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ValidationError

from collectors.analysis.findings import Finding
from collectors.analysis.stage import typed

M = TypeVar("M", bound=BaseModel)


class StoredSnapshot(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def host(self) -> str: ...
    @property
    def host_group(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def critical(self) -> int: ...
    @property
    def headline(self) -> str: ...
    @property
    def finding_list(self) -> Sequence[Finding]: ...
    @property
    def parsed(self) -> Mapping[str, Mapping[str, Any]]: ...


def result(s: StoredSnapshot, collector: str, model: type[M]) -> M | None:
    """The collector's typed result (None when it did not run, stored nothing,
    or stored what today's model cannot read: a view is never refused for it)."""
    try:
        r = typed(collector, s.parsed.get(collector))
    except ValidationError:
        return None
    return r if isinstance(r, model) else None
