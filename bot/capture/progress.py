"""The capture's outward port: progress events and outcomes. The terminal's
live table, a live Slack message and the watch socket implement `OnProgress`;
the core never calls an interface."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Protocol

from bot.store.views import SnapshotView

#: a host-level status: this request joined a capture already running (its
#: detail: who asked for that one)
JOINED = "joined"


@dataclass
class ProgressEvent:
    host: str
    snapshot_id: str
    #: None for host-level events (connecting, connected, done)
    collector: str | None
    #: connecting, connected, joined, running, ok, partial, failed, timeout, skipped, done
    status: str
    detail: str = ""
    warm: bool = False


class OnProgress(Protocol):
    """What an interface implements to follow a capture (a callable)."""

    def __call__(self, ev: ProgressEvent, /) -> Awaitable[None]: ...


@dataclass
class CaptureOutcome:
    host: str
    snapshot: SnapshotView | None = None
    error: str | None = None
    joined: bool = False  # joined a capture already running for this host

    @property
    def snapshot_id(self) -> str | None:
        return self.snapshot.id if self.snapshot else None
