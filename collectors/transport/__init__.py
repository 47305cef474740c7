"""How hostsnap reaches a host: SSH (asyncssh) or this machine directly."""

from collectors.transport.base import (
    CommandResult,
    HostSession,
    PathGone,
    TransportError,
)

__all__ = ["CommandResult", "HostSession", "PathGone", "TransportError"]
