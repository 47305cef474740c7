"""Where and how to reach one host over SSH: read by the transport (ssh.py) and
by the host-key policy (hostkeys.py), so neither imports the other for it."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SSHTarget:
    name: str
    address: str
    port: int = 22
    user: str | None = None
    key_files: list[str] = field(default_factory=list)
    passphrase: str | None = None
    use_agent: bool = True
    #: the file every host key is checked against; empty is refused at connect
    known_hosts: str = ""
    trust_on_first_use: bool = False
    jump: SSHTarget | None = None
    connect_timeout: float = 5.0
    keepalive_interval: float = 10.0
    keepalive_count_max: int = 3
    #: connection attempts (only connecting is retried; capture steps never are)
    retries: int = 2
